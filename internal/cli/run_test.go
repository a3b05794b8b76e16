package cli

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// waitUntil polls cond until it holds or d has passed, and reports whether
// it held.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// processGone reports whether pid no longer runs: it does not exist, or is
// a zombie waiting for whoever inherited it to reap it.
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X')
}

// stubbornServer is a stdio server that never reads its input, ignores
// SIGTERM, and leaves a grandchild (which inherits the ignored SIGTERM)
// holding its stdout. It writes "<its pid> <grandchild pid>" to pidFile.
func stubbornServer(pidFile string) []string {
	return []string{"sh", "-c", `trap '' TERM; sleep 300 & echo "$$ $!" > "$0.tmp"; mv "$0.tmp" "$0"; wait; wait; wait`, pidFile}
}

// exitAfterInput ends when its input ends, but leaves a grandchild behind
// holding its stdout, and writes one last message after its input ended.
func exitAfterInput(pidFile string) []string {
	return []string{"sh", "-c", `sleep 300 & echo "$$ $!" > "$0.tmp"; mv "$0.tmp" "$0"; cat >/dev/null; echo '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"bye"}}'; exit 3`, pidFile}
}

type lifecycleRun struct {
	cmd    *exec.Cmd
	stdin  *os.File
	lines  chan string
	stderr *strings.Builder
	pids   []int
	waited chan struct{}
}

// startLifecycle runs tollgate run in front of server, and waits until the
// server has written its pids.
func startLifecycle(t *testing.T, server func(pidFile string) []string) *lifecycleRun {
	t.Helper()
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	writeFile(t, pol, "version: \"1\"\ndefault: allow\n")
	pidFile := filepath.Join(dir, "pids")
	args := append([]string{"run", "-c", pol, "--audit", "off", "--watch=false", "--"}, server(pidFile)...)
	cmd := exec.Command(mcptest.Tollgate(t), args...)
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin = inR
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	r := &lifecycleRun{cmd: cmd, stdin: inW, lines: make(chan string, 16), stderr: &strings.Builder{}, waited: make(chan struct{})}
	cmd.Stderr = syncWriter{r.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	go func() { _ = cmd.Wait(); close(r.waited) }()
	t.Cleanup(func() {
		inW.Close()
		select {
		case <-r.waited:
		default:
			_ = cmd.Process.Kill()
			<-r.waited
		}
		for _, pid := range r.pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("tollgate stderr:\n%s", r.stderrText())
		}
	})
	var pids []int
	if !waitUntil(20*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		if err != nil {
			return false
		}
		pids = pids[:0]
		for _, f := range strings.Fields(string(b)) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return false
			}
			pids = append(pids, n)
		}
		return len(pids) == 2
	}) {
		t.Fatal("the server never started")
	}
	r.pids = pids
	return r
}

func (r *lifecycleRun) stderrText() string {
	stderrMu <- struct{}{}
	defer func() { <-stderrMu }()
	return r.stderr.String()
}

// exit waits for tollgate to exit; the bound is generous (a stop takes at
// most two grace periods and a drain) and only catches a hang.
func (r *lifecycleRun) exit(t *testing.T) int {
	t.Helper()
	select {
	case <-r.waited:
	case <-time.After(30 * time.Second):
		t.Fatal("tollgate did not exit")
	}
	return r.cmd.ProcessState.ExitCode()
}

func (r *lifecycleRun) checkAllGone(t *testing.T) {
	t.Helper()
	for i, pid := range r.pids {
		if !waitUntil(5*time.Second, func() bool { return processGone(pid) }) {
			t.Errorf("%s (pid %d) still runs after tollgate exited", []string{"server", "grandchild"}[i], pid)
		}
	}
}

// A server that ignores the end of its input and SIGTERM is still stopped
// (SIGKILL to its process group), with the grandchild it started, whether
// Tollgate's input ends or Tollgate is told to stop.
func TestRunStopsAStubbornServer(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stop     func(r *lifecycleRun)
		wantCode int
	}{
		{"stdin EOF", func(r *lifecycleRun) { r.stdin.Close() }, 128 + int(syscall.SIGKILL)},
		{"SIGTERM", func(r *lifecycleRun) { _ = r.cmd.Process.Signal(syscall.SIGTERM) }, 128 + int(syscall.SIGTERM)},
		{"SIGINT", func(r *lifecycleRun) { _ = r.cmd.Process.Signal(syscall.SIGINT) }, 128 + int(syscall.SIGINT)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := startLifecycle(t, stubbornServer)
			tc.stop(r)
			if code := r.exit(t); code != tc.wantCode {
				t.Errorf("tollgate exit status %d, want %d", code, tc.wantCode)
			}
			r.checkAllGone(t)
		})
	}
}

// A second SIGINT does not wait for the grace periods: the server's group
// is killed at once.
func TestRunSecondInterruptKills(t *testing.T) {
	r := startLifecycle(t, stubbornServer)
	_ = r.cmd.Process.Signal(syscall.SIGINT)
	// The first signal has been taken once the server's stdin is closed;
	// the stubborn server does not show that, so signal until it is gone.
	if !waitUntil(stdio.StopGrace, func() bool {
		_ = r.cmd.Process.Signal(syscall.SIGINT)
		return processGone(r.pids[0])
	}) {
		t.Error("the server survived a second SIGINT for a whole grace period")
	}
	if code := r.exit(t); code != 128+int(syscall.SIGINT) {
		t.Errorf("tollgate exit status %d, want %d", code, 128+int(syscall.SIGINT))
	}
	r.checkAllGone(t)
}

// A server that exits when its input ends takes no signal: its last
// message still reaches the client, its exit status is Tollgate's, and the
// grandchild it left holding its stdout is ended rather than waited for.
func TestRunRelaysLastOutputAndEndsLeftovers(t *testing.T) {
	r := startLifecycle(t, exitAfterInput)
	r.stdin.Close()
	if code := r.exit(t); code != 3 {
		t.Errorf("tollgate exit status %d, want the server's 3", code)
	}
	var got []string
	for l := range r.lines {
		got = append(got, l)
	}
	if len(got) != 1 || !strings.Contains(got[0], `"bye"`) {
		t.Errorf("client saw %q, want the server's last message", got)
	}
	r.checkAllGone(t)
}
