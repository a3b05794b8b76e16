package cli

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func nonblocking(t *testing.T, f *os.File) bool {
	t.Helper()
	flags, err := fcntlGetfl(f)
	if err != nil {
		t.Fatal(err)
	}
	return flags&syscall.O_NONBLOCK != 0
}

func fcntlGetfl(f *os.File) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var flags uintptr
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		flags, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	}); err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	return int(flags), nil
}

// Stdout that is a pipe (what an MCP client connects) becomes non-blocking,
// so the stdio transport writes it through the poller; a regular file (or
// a terminal) is left alone, since the flag would be shared with whoever
// else holds it.
func TestPollableStdout(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	pw.Fd() // as os.Stdout is: a blocking descriptor
	got, ok := pollableStdout(env{stdout: pw}).(*os.File)
	if !ok || got == pw {
		t.Fatalf("a pipe was not made pollable: %T", got)
	}
	if !nonblocking(t, got) {
		t.Error("the pipe is still blocking")
	}

	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if w := pollableStdout(env{stdout: f}); w != f {
		t.Errorf("a regular file was replaced: %T", w)
	}
	if nonblocking(t, f) {
		t.Error("a regular file was made non-blocking")
	}
}
