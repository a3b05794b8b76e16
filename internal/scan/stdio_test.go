package scan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A server that ignores the end of its input and SIGTERM, and started a
// process of its own, is gone after a scan, grandchild included: scan stops
// a server's whole process group, as tollgate run does.
func TestFetchStdioStopsTheWholeGroup(t *testing.T) {
	old := stopGrace
	stopGrace = 200 * time.Millisecond
	t.Cleanup(func() { stopGrace = old })
	pidFile := filepath.Join(t.TempDir(), "pids")
	argv := append([]string{"sh", "-c", `trap '' TERM; sleep 300 & echo "$$ $!" > "$0"; "$@"; while :; do sleep 1; done`, pidFile},
		fakeServerArgv(t, "paged")...)
	var progress []string
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inv, err := FetchStdio(ctx, argv, nil, Options{Progress: func(m string) { progress = append(progress, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Tools) != 4 {
		t.Errorf("%d tools, want 4", len(inv.Tools))
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
		if !gone(pid, 5*time.Second) {
			t.Errorf("pid %d still runs after the scan", pid)
		}
	}
	if !strings.Contains(strings.Join(progress, "\n"), "killed") {
		t.Errorf("progress %q does not say the server had to be killed", progress)
	}
}

// gone polls until pid has exited (or is a zombie left to whoever inherited
// it), for at most d.
func gone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if errors.Is(err, os.ErrNotExist) {
			return true
		}
		if s := string(b); err == nil {
			if i := strings.LastIndexByte(s, ')'); i > 0 && len(s) > i+2 && s[i+2] == 'Z' {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}
