package stdio

import (
	"context"
	"errors"
	"fmt"

	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Child is an MCP server running as a child process in its own process
// group, with stdin and stdout as the MCP channel and stderr passed through.
type Child struct {
	cmd     *exec.Cmd
	conn    *Conn
	done    chan struct{}
	waitErr error

	stopMu  sync.Mutex // held for the whole of Stop
	stopped bool
}

// ChildOptions configures StartChild.
type ChildOptions struct {
	Env      []string  // nil: inherit Tollgate's environment
	Dir      string    // working directory; "": Tollgate's
	Stderr   io.Writer // nil: os.Stderr
	MaxFrame int
}

// StartChild starts argv[0] with argv[1:].
func StartChild(ctx context.Context, argv []string, opts ChildOptions) (*Child, error) {
	if len(argv) == 0 {
		return nil, errors.New("start server: no command given")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = opts.Env
	cmd.Dir = opts.Dir
	cmd.Stderr = opts.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A Stderr that is not a file is copied by a goroutine Wait waits for;
	// a process that left the group may hold that pipe for ever.
	cmd.WaitDelay = DrainTimeout
	stdinR, stdin, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start server %q: %w", argv[0], err)
	}
	cmd.Stdin = stdinR
	// Our own pipe rather than StdoutPipe: Wait closes StdoutPipe's read end
	// as soon as the child exits, which would lose its last responses.
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		stdinR.Close()
		stdin.Close()
		return nil, fmt.Errorf("start server %q: %w", argv[0], err)
	}
	cmd.Stdout = stdoutW
	err = cmd.Start()
	stdoutW.Close()
	stdinR.Close()
	if err != nil {
		stdout.Close()
		stdin.Close()
		return nil, fmt.Errorf("start server %q: %w", argv[0], err)
	}
	c := &Child{cmd: cmd, conn: NewConn(stdout, stdin, opts.MaxFrame), done: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// Conn is the MCP channel to the child.
func (c *Child) Conn() *Conn { return c.conn }

// Done is closed when the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Signal sends sig to the child's process group.
func (c *Child) Signal(sig syscall.Signal) {
	if c.cmd.Process != nil {
		_ = syscall.Kill(-c.cmd.Process.Pid, sig)
	}
}

// ExitCode is the child's exit status once it has exited: its code, or 128+N
// when signal N ended it; -1 while it runs.
func (c *Child) ExitCode() int {
	select {
	case <-c.done:
	default:
		return -1
	}
	st := c.cmd.ProcessState
	if st == nil {
		return 1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// StopGrace is how long Stop gives a child at each step of a stop: after
// its stdin is closed, and again after SIGTERM, before SIGKILL. A server
// that exits when its input ends (as the MCP stdio transport asks) takes
// none of it.
const StopGrace = 2 * time.Second

// DrainTimeout bounds how long, once the child has exited, a session keeps
// reading what the child wrote before it went (its last responses): its
// stdout is read to the end unless something outside its process group
// still holds the pipe open.
const DrainTimeout = time.Second

// Stop ends the child the careful way and returns once it has exited:
// close its stdin and wait up to grace, then SIGTERM its process group and
// wait up to grace, then SIGKILL the group. Whatever is left of the group
// once the child has gone (a grandchild it started and left behind) gets
// SIGTERM, and SIGKILL if it is still there grace later, so no process the
// server started outlives it. Stop may be called more than once and
// concurrently; later calls wait for the first.
func (c *Child) Stop(grace time.Duration) {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	if c.stopped {
		return
	}
	defer func() { c.stopped = true }()
	_ = c.conn.CloseWrite()
	if c.wait(grace) {
		c.endGroup(grace)
		return
	}
	c.Signal(syscall.SIGTERM)
	if c.wait(grace) {
		c.endGroup(grace)
		return
	}
	c.Signal(syscall.SIGKILL) // the whole group: nothing is left to end
	<-c.done
}

// Kill sends SIGKILL to the child's process group at once (a second
// interrupt during a careful Stop); Stop then returns promptly.
func (c *Child) Kill() { c.Signal(syscall.SIGKILL) }

// endGroup ends what is left of the child's process group after the child
// itself has exited. The group's id stays reserved while any member lives,
// so signalling it cannot reach an unrelated process.
func (c *Child) endGroup(grace time.Duration) {
	pgid := c.cmd.Process.Pid
	if syscall.Kill(-pgid, syscall.SIGTERM) != nil {
		return // no member left
	}
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if syscall.Kill(-pgid, 0) != nil {
				return
			}
		case <-deadline.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return
		}
	}
}

// InputClosed is closed once the child's stdin has been closed: by Stop, or
// by the session when its client's input ended (see transport.HalfCloser).
func (c *Child) InputClosed() <-chan struct{} { return c.conn.WriteClosed() }

func (c *Child) wait(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.done:
		return true
	case <-t.C:
		return false
	}
}
