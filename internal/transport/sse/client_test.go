package sse

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
)

// legacyServer is a minimal 2024-11-05 HTTP+SSE server: GET /sse opens the
// stream and announces /message; each POSTed request is answered on the
// stream. Closing drop ends the stream.
type legacyServer struct {
	endpoint string
	mu       sync.Mutex
	stream   chan []byte
	drop     chan struct{}
	auth     []string
}

func newLegacy(endpoint string) *legacyServer {
	return &legacyServer{endpoint: endpoint, stream: make(chan []byte, 16), drop: make(chan struct{})}
}

func (s *legacyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.auth = append(s.auth, r.Header.Get("Authorization"))
	s.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/sse":
		sw := NewWriter(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		sw.Write(Event{Name: "endpoint", Data: []byte(s.endpoint)})
		for {
			select {
			case f := <-s.stream:
				sw.Write(Event{Name: "message", Data: f})
			case <-s.drop:
				return
			case <-r.Context().Done():
				return
			}
		}
	case r.Method == http.MethodPost && r.URL.Path == "/message":
		body, _ := io.ReadAll(r.Body)
		m, err := jsonrpc.Parse(body, false)
		if err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		if m.IsRequest() && m.Method != "hang" {
			s.stream <- jsonrpc.AppendResult(nil, m.ID, []byte(fmt.Sprintf(`{"method":%q}`, m.Method)))
		}
	default:
		http.NotFound(w, r)
	}
}

func read(t *testing.T, c *ClientConn) []byte {
	t.Helper()
	type res struct {
		f   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		f, err := c.Read()
		ch <- res{f, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Read: %v", r.err)
		}
		return r.f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame in time")
	}
	return nil
}

func TestLegacyClient(t *testing.T) {
	srv := newLegacy("/message?sessionId=abc")
	s := httptest.NewServer(srv)
	defer s.Close()
	c, err := Dial(context.Background(), s.URL+"/sse", ClientOptions{Header: http.Header{"Authorization": {"Bearer k"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); !bytes.Contains(got, []byte(`"id":1`)) || !bytes.Contains(got, []byte(`"initialize"`)) {
		t.Fatalf("got %s", got)
	}
	c.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	c.Write([]byte(`{"jsonrpc":"2.0","id":"x","method":"tools/list"}`))
	if got := read(t, c); !bytes.Contains(got, []byte(`"id":"x"`)) {
		t.Fatalf("got %s", got)
	}
	srv.mu.Lock()
	for _, a := range srv.auth {
		if a != "Bearer k" {
			t.Errorf("a request carried Authorization %q", a)
		}
	}
	srv.mu.Unlock()

	// The stream drops with a call pending: the call is answered with an
	// error, then Read ends.
	c.Write([]byte(`{"jsonrpc":"2.0","id":2,"method":"hang"}`))
	close(srv.drop)
	got := read(t, c)
	if !bytes.Contains(got, []byte(`"id":2`)) || !bytes.Contains(got, []byte("event stream ended before the response")) {
		t.Fatalf("got %s", got)
	}
	if _, err := c.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the drop: %v, want io.EOF", err)
	}
}

func TestLegacyRejectsForeignEndpoint(t *testing.T) {
	s := httptest.NewServer(newLegacy("http://elsewhere.invalid/message"))
	defer s.Close()
	_, err := Dial(context.Background(), s.URL+"/sse", ClientOptions{})
	if err == nil || !strings.Contains(err.Error(), "another origin") {
		t.Fatalf("Dial error = %v", err)
	}
}

func TestLegacyDialNotSSE(t *testing.T) {
	s := httptest.NewServer(http.NotFoundHandler())
	defer s.Close()
	_, err := Dial(context.Background(), s.URL+"/sse", ClientOptions{})
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("Dial error = %v", err)
	}
}

func TestLegacyCloseWrite(t *testing.T) {
	srv := newLegacy("/message")
	s := httptest.NewServer(srv)
	defer s.Close()
	c, err := Dial(context.Background(), s.URL+"/sse", ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	c.CloseWrite()
	read(t, c)
	if _, err := c.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("Read = %v, want io.EOF once the last answer is in", err)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://u:p@host:8443/mcp?key=k#f": "https://host:8443/mcp?…",
		"http://127.0.0.1:1/mcp":            "http://127.0.0.1:1/mcp",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
