package streamhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// fake is a small streamable HTTP MCP server for unit tests. Sessions are
// numbered; forget() makes the server answer the current one with 404.
type fake struct {
	t *testing.T

	mu       sync.Mutex
	session  string
	inits    int
	posts    []request
	deletes  []string
	gets     []http.Header
	replies  chan []byte // responses the client POSTed (to server→client requests)
	onCall   func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message)
	onGet    func(w http.ResponseWriter, r *http.Request) // nil: 405
	initJSON string                                       // initialize result
}

type request struct {
	method string
	header http.Header
	body   string
}

func newFake(t *testing.T) *fake {
	return &fake{t: t, replies: make(chan []byte, 16), initJSON: `{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"1"}}`}
}

func (f *fake) forget() {
	f.mu.Lock()
	f.session = "forgotten"
	f.mu.Unlock()
}

func (f *fake) postsOf(method string) []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []request
	for _, p := range f.posts {
		if p.method == method {
			out = append(out, p)
		}
	}
	return out
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		f.mu.Lock()
		f.gets = append(f.gets, r.Header.Clone())
		onGet := f.onGet
		f.mu.Unlock()
		if onGet == nil {
			http.Error(w, "no GET stream", http.StatusMethodNotAllowed)
			return
		}
		onGet(w, r)
		return
	case http.MethodDelete:
		f.mu.Lock()
		f.deletes = append(f.deletes, r.Header.Get("Mcp-Session-Id"))
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		http.Error(w, "no", http.StatusMethodNotAllowed)
		return
	}
	body, _ := io.ReadAll(r.Body)
	m, err := jsonrpc.Parse(body, false)
	if err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.posts = append(f.posts, request{method: m.Method, header: r.Header.Clone(), body: string(body)})
	if m.Method == "initialize" {
		f.inits++
		f.session = fmt.Sprintf("s%d", f.inits)
		sid, res := f.session, f.initJSON
		f.mu.Unlock()
		w.Header().Set("Mcp-Session-Id", sid)
		w.Header().Set("Content-Type", "application/json")
		w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(res)))
		return
	}
	sid := f.session
	onCall := f.onCall
	f.mu.Unlock()
	if got := r.Header.Get("Mcp-Session-Id"); got != sid {
		http.Error(w, "unknown session", http.StatusNotFound)
		return
	}
	if !m.IsRequest() {
		if m.IsResponse() {
			f.replies <- body
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	if m.Method == "tools/call" && onCall != nil {
		onCall(w, r, m)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(`{"content":[{"type":"text","text":"ok"}]}`)))
}

// frames reads a ClientConn on a goroutine so tests can wait with a deadline.
type frames struct {
	ch   chan []byte
	errc chan error
}

func readFrames(c *ClientConn) *frames {
	fr := &frames{ch: make(chan []byte, 256), errc: make(chan error, 1)}
	go func() {
		for {
			f, err := c.Read()
			if err != nil {
				fr.errc <- err
				return
			}
			fr.ch <- f
		}
	}()
	return fr
}

const clientWait = 10 * time.Second

func (fr *frames) next(t *testing.T) []byte {
	t.Helper()
	select {
	case f := <-fr.ch:
		return f
	case err := <-fr.errc:
		select {
		case f := <-fr.ch:
			fr.errc <- err
			return f
		default:
		}
		t.Fatalf("Read ended: %v", err)
	case <-time.After(clientWait):
		t.Fatalf("no frame within %v", clientWait)
	}
	return nil
}

func (fr *frames) end(t *testing.T) error {
	t.Helper()
	select {
	case f := <-fr.ch:
		t.Fatalf("unexpected frame %s", f)
	case err := <-fr.errc:
		select {
		case f := <-fr.ch:
			t.Fatalf("unexpected frame %s", f)
		default:
		}
		return err
	case <-time.After(clientWait):
		t.Fatalf("Read did not end within %v", clientWait)
	}
	return nil
}

func dialT(t *testing.T, url string, opts ClientOptions) *ClientConn {
	t.Helper()
	c, err := Dial(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c *ClientConn, frame string) {
	t.Helper()
	if err := c.Write([]byte(frame)); err != nil {
		t.Fatalf("Write(%s): %v", frame, err)
	}
}

const (
	initReq  = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"1"}}}`
	initedNt = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
)

func callReq(id int, tool string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, id, tool)
}

// handshake initialises a session and returns the initialize response.
func handshake(t *testing.T, f *fake, c *ClientConn, fr *frames) []byte {
	t.Helper()
	write(t, c, initReq)
	resp := fr.next(t)
	n := len(f.postsOf("notifications/initialized"))
	write(t, c, initedNt)
	mcptest.Eventually(t, clientWait, func() bool { return len(f.postsOf("notifications/initialized")) > n }, "another notifications/initialized")
	return resp
}

func mustContain(t *testing.T, frame []byte, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !bytes.Contains(frame, []byte(p)) {
			t.Errorf("frame %s does not contain %q", frame, p)
		}
	}
}

func idOf(t *testing.T, frame []byte) string {
	t.Helper()
	m, err := jsonrpc.Parse(frame, false)
	if err != nil {
		t.Fatalf("parse %s: %v", frame, err)
	}
	return string(m.ID)
}

// sseWriter starts an SSE answer.
func sseWriter(w http.ResponseWriter) *sse.Writer {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	return sse.NewWriter(w)
}

func newServer(t *testing.T, h http.Handler) *httptest.Server {
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s
}

func isClosedErr(err error) bool {
	return errors.Is(err, io.EOF) || strings.Contains(err.Error(), "closed")
}
