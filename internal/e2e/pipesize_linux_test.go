package e2e

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestStdoutPipeGrowsForLargeAnswers: tollgate run keeps the default pipe
// to its client until it has an answer larger than the pipe holds, then
// grows it to 1 MiB (where the system allows it), so that a large result
// leaves in one write.
func TestStdoutPipeGrowsForLargeAnswers(t *testing.T) {
	limit, err := os.ReadFile("/proc/sys/fs/pipe-max-size")
	if err != nil || strings.TrimSpace(string(limit)) != "1048576" {
		t.Skipf("pipe-max-size is %q, not the default 1 MiB", limit)
	}
	p := startTollgate(t, "version: \"1\"\n", []string{"TOLLGATE_E2E_FAKE=echo"}, fakeArgv(t)...)
	f, ok := p.stdout.(*os.File)
	if !ok {
		t.Fatalf("stdout is a %T", p.stdout)
	}
	size := func() uintptr {
		n, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_GETPIPE_SZ, 0)
		if errno != 0 {
			t.Fatal(errno)
		}
		return n
	}
	if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"small","arguments":{}}}`); !strings.Contains(got, "ran: small") {
		t.Fatalf("answer %s", got)
	}
	if n := size(); n != 64<<10 {
		t.Errorf("after a small answer the pipe to the client holds %d bytes, want the default %d", n, 64<<10)
	}
	big := strings.Repeat("a", 100000) // the fake server echoes the tool name
	if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"`+big+`","arguments":{}}}`); !strings.Contains(got, "ran: "+big) {
		t.Fatalf("answer of %d bytes lacks the echo", len(got))
	}
	if n := size(); n != 1<<20 {
		t.Errorf("after a large answer the pipe to the client holds %d bytes, want %d", n, 1<<20)
	}
}
