package stdio

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func pipeBuffer(t *testing.T, f *os.File) uintptr {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size uintptr
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		size, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETPIPE_SZ, 0)
	}); err != nil {
		t.Fatal(err)
	}
	if errno != 0 {
		t.Fatal(errno)
	}
	return size
}

func needDefaultPipeMax(t *testing.T) {
	limit, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil || strings.TrimSpace(string(limit)) != "1048576" {
		t.Skipf("pipe-max-size is %q, not the default 1 MiB", limit)
	}
}

// TestChildStdoutPipeGrowsForLargeMessages: the pipe the child answers on
// keeps the default size until a message larger than it arrives, then
// holds 1 MiB.
func TestChildStdoutPipeGrowsForLargeMessages(t *testing.T) {
	needDefaultPipeMax(t)
	script := `read line; echo '{"small":1}'; read line; head -c 100000 /dev/zero | tr '\0' a; echo; read line`
	c, err := StartChild(context.Background(), []string{"sh", "-c", script}, ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(time.Second)
	f := c.conn.inFile
	if f == nil {
		t.Fatal("the child's stdout is not a file")
	}
	if err := c.conn.Write([]byte(`{"go":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.conn.Read(); err != nil {
		t.Fatal(err)
	}
	if size := pipeBuffer(t, f); size != defaultPipe {
		t.Errorf("after a small message the pipe holds %d bytes, want the default %d", size, defaultPipe)
	}
	if err := c.conn.Write([]byte(`{"go":2}`)); err != nil {
		t.Fatal(err)
	}
	if b, err := c.conn.Read(); err != nil || len(b) != 100000 {
		t.Fatalf("read %d bytes, %v", len(b), err)
	}
	if size := pipeBuffer(t, f); size != pipeSize {
		t.Errorf("after a large message the pipe holds %d bytes, want %d", size, pipeSize)
	}
}

// TestWritePipeGrowsBeforeALargeFrame: the output pipe is grown before the
// first frame that would not fit the default one.
func TestWritePipeGrowsBeforeALargeFrame(t *testing.T) {
	needDefaultPipeMax(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	c := NewConn(strings.NewReader(""), w, 0)
	defer c.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1<<20)
		for {
			if _, err := r.Read(buf); err != nil {
				return
			}
		}
	}()
	if err := c.Write([]byte(`{"small":1}`)); err != nil {
		t.Fatal(err)
	}
	if size := pipeBuffer(t, w); size != defaultPipe {
		t.Errorf("after a small frame the pipe holds %d bytes, want %d", size, defaultPipe)
	}
	if err := c.Write([]byte(`"` + strings.Repeat("a", 100000) + `"`)); err != nil {
		t.Fatal(err)
	}
	if size := pipeBuffer(t, w); size != pipeSize {
		t.Errorf("after a large frame the pipe holds %d bytes, want %d", size, pipeSize)
	}
	c.Close()
	<-done
}
