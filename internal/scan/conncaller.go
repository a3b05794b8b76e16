package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// drainTimeout bounds how long close waits, once the server was told the
// session is over, for the connection to deliver its end before it is cut.
const drainTimeout = stdio.DrainTimeout

// connCaller does a scan's requests over one transport.Conn: a child's
// pipes, a streamable HTTP session or a legacy HTTP+SSE one. Its reader
// goroutine hands each response to the call that waits for it, answers the
// server's requests (see answer) and drops notifications and frames that
// are not JSON-RPC (some servers log to stdout); it runs until Read fails.
type connCaller struct {
	conn transport.Conn
	// local is the prefix of the errors the transport answers a failed
	// request with itself ("upstream URL: "), "" when it makes none: those
	// are not the server's errors (see ErrServer).
	local string
	done  chan struct{} // closed when reading ended; err says why

	mu      sync.Mutex // guards next, waiting, err
	next    int
	waiting map[string]chan *message
	err     error

	closeOnce sync.Once
}

func newConnCaller(conn transport.Conn, local string) *connCaller {
	c := &connCaller{conn: conn, local: local, done: make(chan struct{}), waiting: map[string]chan *message{}}
	go c.readLoop()
	return c
}

func (c *connCaller) readLoop() {
	defer close(c.done)
	for {
		frame, err := c.conn.Read()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		c.dispatch(frame)
	}
}

func (c *connCaller) dispatch(frame []byte) {
	var msgs []message
	if len(frame) > 0 && frame[0] == '[' {
		if json.Unmarshal(frame, &msgs) != nil {
			return
		}
	} else {
		var m message
		if json.Unmarshal(frame, &m) != nil {
			return
		}
		msgs = []message{m}
	}
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.isRequest():
			if b, err := json.Marshal(answer(m)); err == nil {
				_ = c.conn.Write(b)
			}
		case m.isResponse():
			c.mu.Lock()
			ch := c.waiting[jsonrpc.IDKey(m.ID)]
			delete(c.waiting, jsonrpc.IDKey(m.ID))
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}
}

// call sends a request and returns its result. An error the server
// answered with is an *rpcError (ErrServer); one the transport answered
// with for a request that failed on the way is a plain error.
func (c *connCaller) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	raw, err := marshalParams(params)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.next++
	id := json.RawMessage(strconv.Itoa(c.next))
	ch := make(chan *message, 1)
	c.waiting[jsonrpc.IDKey(id)] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, jsonrpc.IDKey(id))
		c.mu.Unlock()
	}()
	b, err := json.Marshal(&message{JSONRPC: "2.0", ID: id, Method: method, Params: raw})
	if err != nil {
		return nil, err
	}
	if err := c.conn.Write(b); err != nil {
		return nil, fmt.Errorf("send %s: %w", method, err)
	}
	var m *message
	select {
	case m = <-ch:
	case <-c.done:
		select {
		case m = <-ch: // answered just before the server closed its output
		default:
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("read from server: %w", err)
			}
			return nil, errors.New("server closed its output")
		}
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if e := m.Error; e != nil {
		if c.local != "" && e.Code == jsonrpc.CodeInternalError && strings.HasPrefix(e.Message, c.local) {
			// The transport's own answer: the request never got one from
			// the server (unreachable, an HTTP error, a stream cut short).
			return nil, errors.New(e.Message)
		}
		return nil, e
	}
	if m.Result == nil {
		return nil, fmt.Errorf("%s: response has neither result nor error", method)
	}
	return m.Result, nil
}

func (c *connCaller) notify(_ context.Context, method string, params any) error {
	raw, err := marshalParams(params)
	if err != nil {
		return err
	}
	b, err := json.Marshal(&message{JSONRPC: "2.0", Method: method, Params: raw})
	if err != nil {
		return err
	}
	if err := c.conn.Write(b); err != nil {
		return fmt.Errorf("send %s: %w", method, err)
	}
	return nil
}

// close ends the session and waits for the reader: it tells the server no
// more is coming (a child's stdin closed; an HTTP session deleted once
// nothing is in flight), runs release (the dialer's: a child's careful
// stop), gives the connection drainTimeout to deliver its end, and then
// closes it.
func (c *connCaller) close(release func()) {
	c.closeOnce.Do(func() {
		if hc, ok := c.conn.(transport.HalfCloser); ok {
			_ = hc.CloseWrite()
		}
		if release != nil {
			release()
		}
		t := time.NewTimer(drainTimeout)
		defer t.Stop()
		select {
		case <-c.done:
		case <-t.C:
		}
		_ = c.conn.Close()
		<-c.done
	})
}

func marshalParams(params any) (json.RawMessage, error) {
	if params == nil {
		return nil, nil
	}
	return json.Marshal(params)
}
