package mcptest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startTimeout bounds how long a started peer may take to accept connections.
// Node peers take about a second on an idle machine; the race-enabled test
// run on two shared cores is much slower.
const startTimeout = 30 * time.Second

// stopGrace is how long a peer has between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; the helpers that start
// servers live with that small race rather than parse each server's log for
// the port it chose. It always fails the test on error: there is nothing to
// skip.
func FreePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// process is a peer started for the length of one test.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed once cmd.Wait has returned
	err  error         // cmd.Wait's result, valid after done
}

// startProcess starts argv for the length of the test. When the test ends its
// context is cancelled (just before cleanups run): the process gets SIGTERM,
// and SIGKILL stopGrace later; the cleanup waits for it to be gone. If the
// test binary dies first (a panic), the process is killed with it on Linux. Its
// combined output is logged if the test failed. env is added to the test
// process's own environment. A failure to start always fails the test: the
// caller has already checked that the peer is installed.
func startProcess(tb testing.TB, name string, argv, env []string) *process {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	p := &process{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = stopGrace
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		<-p.done
		if tb.Failed() {
			tb.Logf("output of %s %q:\n%s", name, argv, p.out.String())
		}
	})
	return p
}

// waitReady calls ready until it succeeds, the process exits, or
// startTimeout passes; the last two fail the test. Polling is the only way to
// learn that another process has started listening.
func (p *process) waitReady(tb testing.TB, ready func(ctx context.Context) error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, time.Second)
		last = ready(attempt)
		cancelAttempt()
		if last == nil {
			return
		}
		select {
		case <-p.done:
			tb.Fatalf("%s exited before it was ready: %v\n%s", p.name, p.err, p.out.String())
		case <-ctx.Done():
			tb.Fatalf("%s not ready after %v: %v\n%s", p.name, startTimeout, last, p.out.String())
		case <-tick.C:
		}
	}
}

// dialReady is a readiness check that succeeds once addr accepts TCP.
func dialReady(addr string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a child's
// stdout and stderr copiers and the reads of a failing test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func hostPort(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
