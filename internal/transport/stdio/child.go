package stdio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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
}

// ChildOptions configures StartChild.
type ChildOptions struct {
	Env      []string  // nil: inherit Tollgate's environment
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
	cmd.Stderr = opts.Stderr
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
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

// Stop ends the child the careful way: close its stdin and wait up to grace,
// then SIGTERM its process group and wait up to grace, then SIGKILL. It
// returns once the child has exited.
func (c *Child) Stop(grace time.Duration) {
	_ = c.conn.CloseWrite()
	if c.wait(grace) {
		return
	}
	c.Signal(syscall.SIGTERM)
	if c.wait(grace) {
		return
	}
	c.Signal(syscall.SIGKILL)
	<-c.done
}

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
