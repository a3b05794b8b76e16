package rawio_test

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/rawio"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-accepted
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

func rawConn(t *testing.T, c syscall.Conn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func quiet(t *testing.T, rc syscall.RawConn) bool {
	t.Helper()
	q, err := rawio.Quiet(rc)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// TestSocket: what Write writes, Read reads; Quiet tells a socket with
// nothing to read from one with data or an end of stream waiting, and
// reads nothing itself.
func TestSocket(t *testing.T) {
	a, b := tcpPair(t)
	ra, rb := rawConn(t, a), rawConn(t, b)
	if !quiet(t, rb) {
		t.Fatal("Quiet = false on a socket with nothing to read")
	}
	msg := []byte("*1\r\n$4\r\nPING\r\n")
	if n, errno, err := rawio.Write(ra, msg); n != len(msg) || errno != 0 || err != nil {
		t.Fatalf("Write = %d, %v, %v", n, errno, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for quiet(t, rb) {
		if time.Now().After(deadline) {
			t.Fatal("Quiet still true 5 s after a write")
		}
		time.Sleep(time.Millisecond)
	}
	if quiet(t, rb) {
		t.Fatal("Quiet consumed the data")
	}
	buf := make([]byte, 64)
	n, errno, err := rawio.Read(rb, buf)
	if errno != 0 || err != nil || string(buf[:n]) != string(msg) {
		t.Fatalf("Read = %q, %v, %v; want %q", buf[:n], errno, err, msg)
	}
	if !quiet(t, rb) {
		t.Fatal("Quiet = false once the data was read")
	}
	a.Close()
	for quiet(t, rb) {
		if time.Now().After(deadline) {
			t.Fatal("Quiet still true 5 s after the peer closed")
		}
		time.Sleep(time.Millisecond)
	}
	if n, errno, err := rawio.Read(rb, buf); n != 0 || errno != 0 || err != nil {
		t.Fatalf("Read at the end of the stream = %d, %v, %v; want 0 and no error", n, errno, err)
	}
}

// TestReadWaitsThroughThePoller: a Read of an empty socket waits for data,
// and ends with the poller's error when the read deadline passes.
func TestReadWaitsThroughThePoller(t *testing.T) {
	a, b := tcpPair(t)
	rb := rawConn(t, b)
	go func() {
		time.Sleep(20 * time.Millisecond)
		a.Write([]byte("late"))
	}()
	buf := make([]byte, 8)
	if n, errno, err := rawio.Read(rb, buf); string(buf[:n]) != "late" || errno != 0 || err != nil {
		t.Fatalf("Read = %q, %v, %v; want \"late\"", buf[:n], errno, err)
	}
	b.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, _, err := rawio.Read(rb, buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: err = %v; want a timeout", err)
	}
}

// TestWriteWaitsWhileFull: Write writes all of a buffer larger than the
// pipe, waiting through the poller while the reader drains it.
func TestWriteWaitsWhileFull(t *testing.T) {
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	// Non-blocking descriptors: os.NewFile registers them with the poller.
	r, wf := os.NewFile(uintptr(fds[0]), "r"), os.NewFile(uintptr(fds[1]), "w")
	defer r.Close()
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i)
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		got <- b
	}()
	n, errno, err := rawio.Write(rawConn(t, wf), big)
	if n != len(big) || errno != 0 || err != nil {
		t.Fatalf("Write = %d, %v, %v; want %d", n, errno, err, len(big))
	}
	wf.Close()
	if b := <-got; string(b) != string(big) {
		t.Fatalf("the reader got %d bytes, not the %d written", len(b), len(big))
	}
}
