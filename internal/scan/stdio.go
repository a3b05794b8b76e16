package scan

import (
	"bufio"
	"context"
	"encoding/json"
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

// child is a stdio session with a server process. Requests may be in
// flight while the read loop answers the server's own requests; writes are
// serialized by mu.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *os.File
	tail   *tailBuffer

	mu      sync.Mutex // guards writes, nextID, pending
	nextID  int
	pending map[string]chan *message

	exited    chan struct{} // closed when the process has exited
	waitErr   error         // set before exited is closed
	readErr   error         // set before readDone is closed
	readDone  chan struct{}
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
		cmd: cmd, stdin: stdin, stdout: pr, tail: tail,
		pending:  map[string]chan *message{},
		exited:   make(chan struct{}),
		readDone: make(chan struct{}),
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	go c.readLoop()
	return c, nil
}

func (c *child) readLoop() {
	defer close(c.readDone)
	r := bufio.NewReaderSize(c.stdout, 64<<10)
	for {
		line, err := readLine(r)
		if len(line) > 0 {
			c.dispatch(line)
		}
		if err != nil {
			c.readErr = err
			return
		}
	}
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

func (c *child) dispatch(line []byte) {
	var msgs []message
	if line[0] == '[' {
		if json.Unmarshal(line, &msgs) != nil {
			return
		}
	} else {
		var m message
		if json.Unmarshal(line, &m) != nil {
			return // not JSON-RPC: some servers log to stdout
		}
		msgs = []message{m}
	}
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.isRequest():
			reply := answer(m)
			_ = c.write(&reply)
		case m.isResponse():
			c.mu.Lock()
			ch := c.pending[idKey(m.ID)]
			delete(c.pending, idKey(m.ID))
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
		// Notifications are ignored.
	}
}

// idKey normalizes an id so that 1 and 1.0 match.
func idKey(id json.RawMessage) string {
	var n json.Number
	if json.Unmarshal(id, &n) == nil {
		if f, err := n.Float64(); err == nil {
			return fmt.Sprintf("n:%g", f)
		}
	}
	return "s:" + string(id)
}

func (c *child) write(m *message) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = c.stdin.Write(b)
	return err
}

func (c *child) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	raw, err := marshalParams(params)
	if err != nil {
		return nil, err
	}
	ch := make(chan *message, 1)
	c.mu.Lock()
	c.nextID++
	id := json.RawMessage(fmt.Sprint(c.nextID))
	c.pending[idKey(id)] = ch
	c.mu.Unlock()
	if err := c.write(&message{JSONRPC: "2.0", ID: id, Method: method, Params: raw}); err != nil {
		return nil, fmt.Errorf("send %s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, m.Error
		}
		if m.Result == nil {
			return nil, fmt.Errorf("%s: response has neither result nor error", method)
		}
		return m.Result, nil
	case <-c.readDone:
		select {
		case m := <-ch: // answered just before the server closed its output
			if m.Error != nil {
				return nil, m.Error
			}
			return m.Result, nil
		default:
		}
		if c.readErr != nil && !errors.Is(c.readErr, io.EOF) {
			return nil, fmt.Errorf("read from server: %w", c.readErr)
		}
		return nil, errors.New("server closed its output")
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

func (c *child) notify(_ context.Context, method string, params any) error {
	raw, err := marshalParams(params)
	if err != nil {
		return err
	}
	return c.write(&message{JSONRPC: "2.0", Method: method, Params: raw})
}

func marshalParams(params any) (json.RawMessage, error) {
	if params == nil {
		return nil, nil
	}
	return json.Marshal(params)
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
		<-c.readDone
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
