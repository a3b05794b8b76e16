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

// fdOf is f's descriptor number, read without Fd (which would make f
// blocking).
func fdOf(t *testing.T, f *os.File) uintptr {
	t.Helper()
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n uintptr
	if err := rc.Control(func(fd uintptr) { n = fd }); err != nil {
		t.Fatal(err)
	}
	return n
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
	if !ok || got == pw || fdOf(t, got) == fdOf(t, pw) {
		t.Fatalf("a pipe was not made pollable on a descriptor of its own: %T", got)
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

// The pollable stdin is a duplicate: closing it (as the session does at its
// end) leaves the original descriptor open, so that the original's own
// Close later cannot close a number that was handed to another file or
// socket meanwhile. (A second *os.File over the same number did: the HTTP
// client of a later test lost its socket and waited for ever.)
func TestPollableStdinIsADuplicate(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	p, ok := pollableStdin(env{stdin: pr}).(*os.File)
	if !ok || p == pr {
		t.Fatalf("stdin was not made pollable: %T", p)
	}
	if !nonblocking(t, p) {
		t.Error("the pollable stdin is blocking")
	}
	if fdOf(t, p) == fdOf(t, pr) {
		t.Fatal("the pollable stdin shares the original's descriptor number")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := pw.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if n, err := pr.Read(buf); n != 1 || err != nil {
		t.Fatalf("the original stdin after the pollable one was closed: %d, %v", n, err)
	}
}
