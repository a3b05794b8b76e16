package scan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// stopGrace is how long a server gets after its stdin is closed, and again
// after SIGTERM to its process group, before SIGKILL (see stdio.Child.Stop).
var stopGrace = stdio.StopGrace

// maxLine bounds one newline-delimited message from a child.
const maxLine = 256 << 20

// FetchStdio starts command (argv[0] and its arguments) as an MCP server
// over stdio in its own process group, lists its tools and stops it the way
// tollgate run stops its server (stdio.Child.Stop: close stdin, wait,
// SIGTERM the group, wait, SIGKILL the group), so nothing it started is
// left running. The child's stderr goes to childStderr (nil discards it);
// its last lines are quoted in errors either way.
func FetchStdio(ctx context.Context, argv []string, childStderr io.Writer, o Options) (inv Inventory, err error) {
	if len(argv) == 0 {
		return Inventory{}, errors.New("no server command given")
	}
	c, err := startChild(ctx, argv, childStderr)
	if err != nil {
		return Inventory{}, err
	}
	defer func() {
		if cerr := c.close(); cerr != nil && err == nil {
			o.progress("stopping server: %v", cerr)
		}
	}()
	inv, err = discover(ctx, c, o, "stdio: "+strings.Join(argv, " "))
	if err != nil {
		return Inventory{}, c.explain(err)
	}
	return inv, nil
}

// child is a stdio session with a server process: a connCaller over its
// pipes, plus what explains a failure.
type child struct {
	*connCaller
	proc *stdio.Child
	tail *tailBuffer

	closeOnce sync.Once
}

func startChild(ctx context.Context, argv []string, childStderr io.Writer) (*child, error) {
	tail := &tailBuffer{max: 4096}
	var stderr io.Writer = tail
	if childStderr != nil {
		stderr = io.MultiWriter(tail, childStderr)
	}
	proc, err := stdio.StartChild(ctx, argv, stdio.ChildOptions{Stderr: stderr, MaxFrame: maxLine})
	if err != nil {
		return nil, err
	}
	c := &child{proc: proc, tail: tail}
	c.connCaller = newConnCaller(proc.Conn())
	return c, nil
}

// explain adds what is known about the child's state to an error: its exit
// status and the end of its stderr.
func (c *child) explain(err error) error {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-c.proc.Done():
		err = fmt.Errorf("%w (server exited: %s)", err, exitStatus(c.proc.ExitCode()))
	case <-t.C:
	}
	if t := strings.TrimSpace(c.tail.String()); t != "" {
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

// close stops the child's process group the careful way and waits for
// everything started: the process, and the reader of its stdout.
func (c *child) close() error {
	var err error
	c.closeOnce.Do(func() {
		select {
		case <-c.proc.Done():
		default:
			// Still running: see whether it needed a signal.
			defer func() {
				if code := c.proc.ExitCode(); code == 128+int(syscall.SIGKILL) {
					err = errors.New("server did not exit after SIGTERM; killed")
				}
			}()
		}
		c.proc.Stop(stopGrace)
		// The group is gone; the pipe ends unless something that left the
		// group holds it.
		t := time.NewTimer(stdio.DrainTimeout)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
			_ = c.proc.Conn().Close()
			<-c.done
		}
	})
	return err
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

// readLine reads one line of at most maxLine bytes, without surrounding
// space.
func readLine(r *bufio.Reader) ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > maxLine {
			return nil, fmt.Errorf("message longer than %d bytes", maxLine)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSpace(buf), err
	}
}
