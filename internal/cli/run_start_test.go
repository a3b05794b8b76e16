package cli

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// tollgate run starts a stdio server before it opens the state store (the
// two start-ups overlap). When the store then cannot be opened, the server
// it started must be stopped, not left running; and a policy that does not
// load must never start the server at all.
func TestRunStopsServerWhenGateFails(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	writeFile(t, pol, "version: \"1\"\ntools:\n  t:\n    rules:\n      - name: cap\n        rate_limit: \"5/minute\"\n")
	pidFile := filepath.Join(dir, "server.pid")
	// The server writes its pid, then waits on stdin like any stdio server.
	server := []string{"--", "sh", "-c", "echo $$ > " + pidFile + "; exec cat >/dev/null"}
	// A Redis that accepts connections and never answers: the store fails
	// only when its ping times out, long after the server has started.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // read, never answer
		}
	}()
	silent := fmt.Sprintf("redis://%s/0", ln.Addr())

	cmd := exec.Command(mcptest.Tollgate(t), append([]string{"run", "-c", pol, "--state", silent}, server...)...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); err == nil || code == 0 {
		t.Fatalf("run with an unreachable store: exit %d, want a failure\n%s", code, out)
	}
	if !strings.Contains(string(out), "tollgate run:") {
		t.Errorf("no error from tollgate run:\n%s", out)
	}
	// The server was started while the store was being opened, and is gone
	// now (Tollgate waits for it).
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the server was not started while the store was opened: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file: %q", b)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Errorf("the server (pid %d) still runs after tollgate run failed", pid)
	}

	// A policy that does not load: the server is never started.
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "version: \"1\"\ntoolz: {}\n")
	cmd = exec.Command(mcptest.Tollgate(t), append([]string{"run", "-c", bad}, server...)...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	_ = os.Remove(pidFile)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("run with a bad policy succeeded:\n%s", out)
	}
	if _, err := os.Stat(pidFile); err == nil {
		t.Error("a policy that does not load started the server")
	}
}
