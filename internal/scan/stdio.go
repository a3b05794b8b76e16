package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// stopGrace is how long a server gets after its stdin is closed, and again
// after SIGTERM to its process group, before SIGKILL (see stdio.Child.Stop).
var stopGrace = stdio.StopGrace

// maxLine bounds one message from a server (a line from a child, an HTTP
// body or event).
const maxLine = 256 << 20

// FetchStdio starts command (argv[0] and its arguments) as an MCP server
// over stdio in its own process group, lists its tools and stops it the way
// tollgate run stops its server (stdio.Child.Stop: close stdin, wait,
// SIGTERM the group, wait, SIGKILL the group), so nothing it started is
// left running. The child's stderr goes to childStderr (nil discards it);
// its last lines are quoted in errors either way. o.Env and o.Dir set its
// environment and working directory.
func FetchStdio(ctx context.Context, argv []string, childStderr io.Writer, o Options) (Inventory, error) {
	if len(argv) == 0 {
		return Inventory{}, errors.New("no server command given")
	}
	d := &childDialer{argv: argv, stderr: childStderr, o: o, tail: &tailBuffer{max: 4096}}
	return fetch(ctx, d, "", d.explain, o, "stdio: "+strings.Join(argv, " "))
}

// childDialer is a transport.Dialer that starts the server as a child
// process; it keeps what explains a failure (the child's exit status and
// the end of its stderr).
type childDialer struct {
	argv   []string
	stderr io.Writer
	o      Options
	tail   *tailBuffer

	proc *stdio.Child // set by Dial
}

var _ transport.Dialer = (*childDialer)(nil)

// Dial starts the child. Its release stops the child's process group the
// careful way and says so when the server had to be killed.
func (d *childDialer) Dial(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
	var stderr io.Writer = d.tail
	if d.stderr != nil {
		stderr = io.MultiWriter(d.tail, d.stderr)
	}
	proc, err := stdio.StartChild(ctx, d.argv, stdio.ChildOptions{Env: d.o.Env, Dir: d.o.Dir, Stderr: stderr, MaxFrame: maxLine})
	if err != nil {
		return nil, nil, err
	}
	d.proc = proc
	return proc.Conn(), d.stop, nil
}

func (d *childDialer) stop() {
	running := true
	select {
	case <-d.proc.Done():
		running = false
	default:
	}
	d.proc.Stop(stopGrace)
	if running && d.proc.ExitCode() == 128+int(syscall.SIGKILL) {
		d.o.progress("stopping server: %v", errors.New("server did not exit after SIGTERM; killed"))
	}
}

// explain adds what is known about the child's state to an error: its exit
// status and the end of its stderr.
func (d *childDialer) explain(err error) error {
	if d.proc == nil {
		return err
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-d.proc.Done():
		err = fmt.Errorf("%w (server exited: %s)", err, exitStatus(d.proc.ExitCode()))
	case <-t.C:
	}
	if t := strings.TrimSpace(d.tail.String()); t != "" {
		err = fmt.Errorf("%w\nserver stderr (last lines):\n%s", err, indent(t))
	}
	return err
}

func exitStatus(code int) string {
	if code > 128 {
		return fmt.Sprintf("signal %d", code-128)
	}
	return fmt.Sprintf("exit status %d", code)
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}
