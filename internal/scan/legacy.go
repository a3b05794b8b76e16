package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// fetchLegacy lists the tools of a server that speaks only the legacy
// HTTP+SSE transport (revision 2024-11-05): endpoint is its event stream
// (…/sse), which announces where to POST. It is what FetchHTTP falls back
// to when the server refuses the streamable HTTP initialize with 404 or
// 405, as the specification's backwards-compatibility section describes.
func fetchLegacy(ctx context.Context, endpoint string, header http.Header, client *http.Client, o Options) (Inventory, error) {
	o.progress("trying the legacy HTTP+SSE transport")
	conn, err := sse.Dial(ctx, endpoint, sse.ClientOptions{Header: header, HTTPClient: client})
	if err != nil {
		return Inventory{}, err
	}
	defer conn.Close()
	return discover(ctx, newConnCaller(conn), o, "http+sse: "+redactURL(endpoint))
}

// frameConn is a message connection: one JSON-RPC frame per Read and Write.
type frameConn interface {
	Read() ([]byte, error)
	Write(frame []byte) error
}

// connCaller is a caller over a frameConn. A reader goroutine hands each
// response to the call that waits for it, answers the server's requests
// (see answer) and drops notifications; it runs until the connection's
// Read fails.
type connCaller struct {
	conn frameConn
	done chan struct{} // closed when reading ended; err says why

	mu      sync.Mutex
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
		var m message
		if json.Unmarshal(frame, &m) != nil {
			continue
		}
		switch {
		case m.isRequest():
			if b, err := json.Marshal(answer(&m)); err == nil {
				_ = c.conn.Write(b)
			}
		case m.isResponse():
			c.mu.Lock()
			ch := c.waiting[idKey(m.ID)]
			delete(c.waiting, idKey(m.ID))
			c.mu.Unlock()
			if ch != nil {
				ch <- &m
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
	c.waiting[idKey(id)] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, idKey(id))
		c.mu.Unlock()
	}()
	b, err := json.Marshal(&message{JSONRPC: "2.0", ID: id, Method: method, Params: raw})
	if err != nil {
		return nil, err
	}
	if err := c.conn.Write(b); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	var m *message
	select {
	case m = <-ch:
	case <-c.done:
		select {
		case m = <-ch:
		default:
			c.mu.Lock()
			err := c.err
			c.mu.Unlock()
			return nil, fmt.Errorf("%s: the connection ended before the response: %w", method, err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
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
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}
