package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// Stdio is a Client speaking newline-delimited JSON to a command it started:
// requests on the command's stdin, responses matched by id from its stdout.
type Stdio struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	w      *jsonrpc.Writer
	stderr *tailBuffer

	mu      sync.Mutex
	waiting map[int64]chan []byte
	readErr error
	done    chan struct{} // closed when the reader stops
	exited  chan struct{} // closed when the command has exited
	waitErr error
}

var _ Client = (*Stdio)(nil)

// StartStdio starts argv with env added to this process's environment.
func StartStdio(argv, env []string) (*Stdio, error) {
	if len(argv) == 0 {
		return nil, errors.New("start stdio client: no command")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	c := &Stdio{cmd: cmd, stderr: &tailBuffer{max: 8 << 10}, waiting: make(map[int64]chan []byte),
		done: make(chan struct{}), exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	stdout, stdoutW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	cmd.Stdout = stdoutW
	err = cmd.Start()
	stdoutW.Close()
	if err != nil {
		stdout.Close()
		return nil, fmt.Errorf("start %s: %w", argv[0], err)
	}
	c.stdin = stdin
	c.w = jsonrpc.NewWriter(stdin)
	go c.read(stdout)
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// PID is the process id of the command.
func (c *Stdio) PID() int { return c.cmd.Process.Pid }

// Stderr returns the last few KiB the command wrote to stderr.
func (c *Stdio) Stderr() string { return c.stderr.String() }

func (c *Stdio) read(r io.ReadCloser) {
	defer close(c.done)
	defer r.Close()
	rd := jsonrpc.NewReader(r, 0)
	for {
		frame, err := rd.Next()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		m, err := jsonrpc.Parse(frame, false)
		if err != nil || !m.IsResponse() {
			continue // server-to-client requests and notifications: not ours to count
		}
		id, err := strconv.ParseInt(string(m.ID), 10, 64)
		if err != nil {
			continue
		}
		c.mu.Lock()
		ch := c.waiting[id]
		delete(c.waiting, id)
		c.mu.Unlock()
		if ch != nil {
			ch <- bytes.Clone(frame)
		}
	}
}

// Do implements Client.
func (c *Stdio) Do(ctx context.Context, id int64, req []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	if c.readErr != nil {
		err := c.readErr
		c.mu.Unlock()
		return nil, fmt.Errorf("call %d: the command's output ended: %w%s", id, err, c.tail())
	}
	c.waiting[id] = ch
	c.mu.Unlock()
	if err := c.w.Write(req); err != nil {
		c.forget(id)
		return nil, fmt.Errorf("call %d: %w%s", id, err, c.tail())
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-c.done:
		select {
		case resp := <-ch:
			return resp, nil
		default:
		}
		return nil, fmt.Errorf("call %d: the command's output ended before the answer%s", id, c.tail())
	case <-ctx.Done():
		c.forget(id)
		return nil, fmt.Errorf("call %d: %w", id, context.Cause(ctx))
	}
}

func (c *Stdio) forget(id int64) {
	c.mu.Lock()
	delete(c.waiting, id)
	c.mu.Unlock()
}

func (c *Stdio) tail() string {
	if s := c.stderr.String(); s != "" {
		return "\nstderr of the command:\n" + s
	}
	return ""
}

// Notify implements Client.
func (c *Stdio) Notify(_ context.Context, msg []byte) error {
	if err := c.w.Write(msg); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	return nil
}

// Close ends the input and waits for the command to exit: up to 5 s, then
// SIGTERM to its process group, then SIGKILL 2 s later.
func (c *Stdio) Close() error {
	_ = c.stdin.Close()
	for _, step := range []struct {
		wait time.Duration
		sig  syscall.Signal
	}{{5 * time.Second, syscall.SIGTERM}, {2 * time.Second, syscall.SIGKILL}} {
		t := time.NewTimer(step.wait)
		select {
		case <-c.exited:
			t.Stop()
			<-c.done
			return nil
		case <-t.C:
		}
		_ = syscall.Kill(-c.cmd.Process.Pid, step.sig)
	}
	<-c.exited
	<-c.done
	return fmt.Errorf("%s did not exit when its input ended", c.cmd.Path)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-b.max:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
