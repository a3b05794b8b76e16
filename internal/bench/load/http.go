package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// HTTP is a Client speaking streamable HTTP to one URL: each request is a
// POST, answered with application/json or with a server-sent event stream
// carrying the response. The Mcp-Session-Id the server hands out at
// initialize is sent on every later request.
type HTTP struct {
	url string
	hc  *http.Client

	mu      sync.Mutex
	session string
	version string
}

var _ Client = (*HTTP)(nil)

// NewHTTP returns a client of url that keeps up to conns connections open.
func NewHTTP(url string, conns int) *HTTP {
	tr := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &HTTP{url: url, hc: &http.Client{Transport: tr}}
}

func (c *HTTP) post(ctx context.Context, msg []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(msg))
	if err != nil {
		return nil, fmt.Errorf("post: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	c.mu.Lock()
	if c.session != "" {
		req.Header.Set("Mcp-Session-Id", c.session)
	}
	if c.version != "" {
		req.Header.Set("Mcp-Protocol-Version", c.version)
	}
	c.mu.Unlock()
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("post: %w", err)
	}
	return resp, nil
}

// Do implements Client.
func (c *HTTP) Do(ctx context.Context, id int64, msg []byte) ([]byte, error) {
	resp, err := c.post(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("call %d: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("call %d: HTTP %s: %s", id, resp.Status, bytes.TrimSpace(body))
	}
	if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
		c.mu.Lock()
		c.session = s
		c.mu.Unlock()
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var out []byte
	switch ct {
	case "application/json":
		out, err = io.ReadAll(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("call %d: read body: %w", id, err)
		}
	case "text/event-stream":
		out, err = fromEvents(resp.Body, id)
		if err != nil {
			return nil, fmt.Errorf("call %d: %w", id, err)
		}
	default:
		return nil, fmt.Errorf("call %d: unexpected Content-Type %q", id, ct)
	}
	if m, err := jsonrpc.Parse(out, false); err == nil && m.Result != nil {
		// Remember the negotiated version for the Mcp-Protocol-Version header.
		if v := field(m.Result, "protocolVersion"); v != "" {
			c.mu.Lock()
			c.version = v
			c.mu.Unlock()
		}
	}
	return out, nil
}

// field returns a top-level string member of a JSON object, "" when absent.
func field(obj []byte, key string) string {
	var out string
	_ = jsonrpc.Members(obj, func(k string, v []byte) error {
		if k == key {
			out, _ = jsonrpc.Unquote(v)
		}
		return nil
	})
	return out
}

// fromEvents reads a server-sent event stream until the response to id.
// eventReaders are the readers of event streams, reused: a reader per
// answer (64 KiB each, as this client once had) cost the load client more
// than the proxy it measures, and only in the rows whose answers are
// streams, skewing them against rows answered with plain JSON. ReadBytes
// still reads a line longer than the buffer.
var eventReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

func fromEvents(r io.Reader, id int64) ([]byte, error) {
	want := strconv.FormatInt(id, 10)
	br := eventReaders.Get().(*bufio.Reader)
	br.Reset(r)
	defer func() { br.Reset(nil); eventReaders.Put(br) }()
	var data []byte
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimRight(line, "\r\n")
			switch {
			case len(line) == 0:
				if len(data) > 0 {
					if m, perr := jsonrpc.Parse(data, false); perr == nil && m.IsResponse() && string(m.ID) == want {
						return data, nil
					}
				}
				data = data[:0]
			case bytes.HasPrefix(line, []byte("data:")):
				d := bytes.TrimPrefix(bytes.TrimPrefix(line, []byte("data:")), []byte(" "))
				if len(data) > 0 {
					data = append(data, '\n')
				}
				data = append(data, d...)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("event stream ended before the response")
			}
			return nil, fmt.Errorf("read event stream: %w", err)
		}
	}
}

// Notify implements Client.
func (c *HTTP) Notify(ctx context.Context, msg []byte) error {
	resp, err := c.post(ctx, msg)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("notify: HTTP %s", resp.Status)
	}
	return nil
}

// Close ends the session (DELETE) and closes idle connections.
func (c *HTTP) Close() error {
	c.mu.Lock()
	session := c.session
	c.mu.Unlock()
	if session != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
		if err == nil {
			req.Header.Set("Mcp-Session-Id", session)
			if resp, err := c.hc.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		cancel()
	}
	c.hc.CloseIdleConnections()
	return nil
}
