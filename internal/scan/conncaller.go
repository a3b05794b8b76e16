package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// frameConn is a message connection: one JSON-RPC frame (a message or a
// batch) per Read and Write. Write must be safe for concurrent use.
type frameConn interface {
	Read() ([]byte, error)
	Write(frame []byte) error
}

// connCaller is a caller over a frameConn: the stdio child's pipes or a
// legacy HTTP+SSE session. Its reader goroutine hands each response to the
// call that waits for it, answers the server's requests (see answer) and
// drops notifications and lines that are not JSON-RPC (some servers log to
// stdout); it runs until Read fails.
type connCaller struct {
	conn frameConn
	done chan struct{} // closed when reading ended; err says why

	mu      sync.Mutex // guards next, waiting, err
	next    int
	waiting map[string]chan *message
	err     error
}

func newConnCaller(conn frameConn) *connCaller {
	c := &connCaller{conn: conn, done: make(chan struct{}), waiting: map[string]chan *message{}}
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
	if m.Error != nil {
		return nil, m.Error
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

func marshalParams(params any) (json.RawMessage, error) {
	if params == nil {
		return nil, nil
	}
	return json.Marshal(params)
}
