package stdio

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func rawPipe(t testing.TB) (r, w *rawFile) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pr.Close(); pw.Close() })
	r, w = newRawFile(pr), newRawFile(pw)
	if r == nil || w == nil {
		t.Fatal("newRawFile refused the ends of an os.Pipe")
	}
	return r, w
}

// A write larger than the pipe holds waits for the reader (EAGAIN, then
// the poller) and arrives whole and in order; the end of the pipe reads as
// io.EOF.
func TestRawFileLargeWriteAndEOF(t *testing.T) {
	r, w := rawPipe(t)
	want := make([]byte, 4<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	errc := make(chan error, 1)
	go func() {
		n, err := w.Write(want)
		if err == nil && n != len(want) {
			err = io.ErrShortWrite
		}
		w.f.Close()
		errc <- err
	}()
	var got bytes.Buffer
	buf := make([]byte, 1000) // small reads: the writer must wait
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("read %d bytes, not the %d written", got.Len(), len(want))
	}
}

// Closing the file wakes a Read waiting for input with os.ErrClosed.
func TestRawFileCloseWakesRead(t *testing.T) {
	r, _ := rawPipe(t)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Read(make([]byte, 10))
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Read reach the poller; the test passes either way
	r.f.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v, want os.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Read")
	}
}

// A write to a pipe whose reader is gone fails with EPIPE rather than
// hanging or succeeding.
func TestRawFileWriteToClosedReader(t *testing.T) {
	r, w := rawPipe(t)
	r.f.Close()
	if _, err := w.Write([]byte("x\n")); !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write without a reader: %v, want EPIPE", err)
	}
}

// Blocking descriptors (a regular file, stdin of a test) keep os.File's
// own calls: a raw call on them could block the thread.
func TestNewRawFileRefusesBlocking(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if newRawFile(f) != nil {
		t.Error("a regular file got a rawFile")
	}
	if newRawFile(nil) != nil {
		t.Error("nil got a rawFile")
	}
}

// NewConn reads a child's pipes through rawFile.
func TestConnUsesRawFile(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pw.Close()
	c := NewConn(pr, pw, 0)
	defer c.Close()
	if !c.rawIn || !c.rawOut {
		t.Errorf("pipe ends not through rawFile: read %v, write %v", c.rawIn, c.rawOut)
	}
	if err := c.Write([]byte(`{"jsonrpc":"2.0","method":"x"}`)); err != nil {
		t.Fatal(err)
	}
	got, err := c.Read()
	if err != nil || string(got) != `{"jsonrpc":"2.0","method":"x"}` {
		t.Fatalf("Read = %q, %v", got, err)
	}
}
