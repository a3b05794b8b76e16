package stdio

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestChildStdoutPipeIsGrown: the pipe the child answers on holds a 1 MiB
// result, where the system allows it.
func TestChildStdoutPipeIsGrown(t *testing.T) {
	limit, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil || string(limit) != "1048576\n" {
		t.Skipf("pipe-max-size is %q, not the default 1 MiB", limit)
	}
	c, err := StartChild(context.Background(), []string{"sh", "-c", "cat >/dev/null"}, ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop(time.Second)
	f, ok := c.conn.in.(*os.File)
	if !ok {
		t.Fatalf("the child's stdout is a %T, not a pipe file", c.conn.in)
	}
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
	if size != pipeSize {
		t.Errorf("pipe buffer %d bytes, want %d", size, pipeSize)
	}
}
