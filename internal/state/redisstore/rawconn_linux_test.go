package redisstore

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestClientOptionsDialRawConnections: the stores' connections to Redis are
// read and written with raw system calls, and act as the net.Conn go-redis
// expects: what one end writes the other reads, a passed read deadline is
// a timeout, the end of the stream is io.EOF, and the check of a pooled
// connection learns of data or a close (and only then runs its own peek).
func TestClientOptionsDialRawConnections(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	o, err := ClientOptions("redis://"+l.Addr().String()+"/0", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	nc, err := o.Dialer(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c, ok := nc.(*rawConn)
	if !ok {
		t.Fatalf("dialled a %T, want *rawConn", nc)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	defer peer.Close()

	checked := func() bool { // whether the check's own peek ran
		t.Helper()
		rc, err := c.SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		ran := false
		if err := rc.Read(func(uintptr) bool { ran = true; return true }); err != nil {
			t.Fatal(err)
		}
		return ran
	}
	if checked() {
		t.Error("the check's peek ran on a connection with nothing to read")
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := io.ReadFull(peer, buf[:6]); err != nil || string(buf[:n]) != "PING\r\n" {
		t.Fatalf("the server read %q, %v", buf[:n], err)
	}
	peer.Write([]byte("+PONG\r\n"))
	waitFor(t, checked, "the check's peek did not run with a reply waiting")
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "+PONG\r\n" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = c.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline: %v; want a timeout", err)
	}
	c.SetReadDeadline(time.Time{})
	peer.Close()
	waitFor(t, checked, "the check's peek did not run once the server closed")
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the server closed = %d, %v; want io.EOF", n, err)
	}
	// A write the peer refuses (reset) is an error, not a silent loss.
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("Write to a closed peer: %v; want EPIPE or ECONNRESET", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("writes to a closed peer kept succeeding for 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	if _, err := c.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close: %v; want net.ErrClosed", err)
	}
}

func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(time.Millisecond)
	}
}
