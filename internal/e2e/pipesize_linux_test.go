package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestStdoutPipeIsGrown: tollgate run grows the pipe it answers its client
// on to 1 MiB (where the system allows it), so that a large result leaves
// in one write.
func TestStdoutPipeIsGrown(t *testing.T) {
	limit, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil || strings.TrimSpace(string(limit)) != "1048576" {
		t.Skipf("pipe-max-size is %q, not the default 1 MiB", limit)
	}
	p := startTollgate(t, "version: \"1\"\n", []string{"TOLLGATE_E2E_FAKE=echo"}, fakeArgv(t)...)
	if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":1,"method":"ping"}`); !strings.Contains(got, `"id":1`) {
		t.Fatalf("answer %s", got)
	}
	f, ok := p.stdout.(*os.File)
	if !ok {
		t.Fatalf("stdout is a %T", p.stdout)
	}
	size, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETPIPE_SZ, 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	if size != 1<<20 {
		t.Errorf("the pipe to the client holds %d bytes, want %d", size, 1<<20)
	}
}
