package scan

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Grace periods when stopping a child: after stdin is closed, and after
// SIGTERM.
var (
	stdioCloseGrace = 2 * time.Second
	stdioTermGrace  = 2 * time.Second
)

// maxLine bounds one newline-delimited message from a child.
const maxLine = 256 << 20

// FetchStdio starts command (argv[0] and its arguments) as an MCP server
// over stdio, lists its tools and stops it: close stdin, wait, SIGTERM,
// wait, SIGKILL. The child's stderr goes to childStderr (nil discards it);
// its last lines are quoted in errors either way.
func FetchStdio(ctx context.Context, argv []string, childStderr io.Writer, o Options) (inv Inventory, err error) {
	if len(argv) == 0 {
		return Inventory{}, errors.New("no server command given")
	}
	c, err := startChild(argv, childStderr)
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
// pipes (child is the caller's frameConn), plus what explains a failure.
type child struct {
	*connCaller
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *os.File
	out    *bufio.Reader
	tail   *tailBuffer

	wmu     sync.Mutex // serializes writes
	lastErr error      // a read error held back behind the line that came with it

	exited    chan struct{} // closed when the process has exited
	waitErr   error         // set before exited is closed
	closeOnce sync.Once
}

func startChild(argv []string, childStderr io.Writer) (*child, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	// A pipe we own rather than StdoutPipe: Wait must not close it under the
	// reader, and a grandchild holding it open must not block shutdown.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	cmd.Stdout = pw
	tail := &tailBuffer{max: 4096}
	if childStderr != nil {
		cmd.Stderr = io.MultiWriter(tail, childStderr)
	} else {
		cmd.Stderr = tail
	}
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start server %q: %w", argv[0], err)
	}
	pw.Close()
	c := &child{
		cmd: cmd, stdin: stdin, stdout: pr, out: bufio.NewReaderSize(pr, 64<<10), tail: tail,
		exited: make(chan struct{}),
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	c.connCaller = newConnCaller(c)
	return c, nil
}

// Read returns the next non-empty line of the child's stdout; see frameConn.
func (c *child) Read() ([]byte, error) {
	for c.lastErr == nil {
		line, err := readLine(c.out)
		c.lastErr = err
		if len(line) > 0 {
			return line, nil
		}
	}
	return nil, c.lastErr
}

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
		return trimSpace(buf), err
	}
}

func trimSpace(b []byte) []byte {
	return []byte(strings.TrimSpace(string(b)))
}

// Write sends one frame on the child's stdin; see frameConn.
func (c *child) Write(frame []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.stdin.Write(append(frame, '\n'))
	return err
}

// explain adds what is known about the child's state to an error: its exit
// status and the end of its stderr.
func (c *child) explain(err error) error {
	select {
	case <-c.exited:
		err = fmt.Errorf("%w (server exited: %v)", err, exitStatus(c.waitErr))
	case <-time.After(100 * time.Millisecond):
	}
	if t := strings.TrimSpace(c.tail.String()); t != "" {
		err = fmt.Errorf("%w\nserver stderr (last lines):\n%s", err, indent(t))
	}
	return err
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

// close stops the child the careful way and waits for everything started.
func (c *child) close() error {
	var err error
	c.closeOnce.Do(func() {
		_ = c.stdin.Close()
		if !c.waitExit(stdioCloseGrace) {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			if !c.waitExit(stdioTermGrace) {
				_ = c.cmd.Process.Kill()
				<-c.exited
				err = errors.New("server did not exit after SIGTERM; killed")
			}
		}
		// The process is gone; a grandchild may still hold the pipe.
		_ = c.stdout.Close()
		<-c.done
	})
	return err
}

func (c *child) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.exited:
		return true
	case <-t.C:
		return false
	}
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
