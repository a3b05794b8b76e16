package sse

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"

	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

func TestLegacyServer(t *testing.T) {
	server := mcptest.Peer(t, "everything-server")
	pol, err := policy.Load("p.yaml", []byte("version: \"1\"\ndefault: allow\nhide: [test_simple_text]\n"))
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan struct{}, 4)
	srv := NewServer(ServerOptions{
		Handler:        proxy.NewHandler(gate.New(pol), nil),
		MaxMessageSize: 4096,
		Upstream: transport.DialFunc(func(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
			ch, err := stdio.StartChild(ctx, []string{server}, stdio.ChildOptions{Stderr: io.Discard})
			if err != nil {
				return nil, nil, err
			}
			return ch.Conn(), func() { ch.Stop(2 * time.Second); stopped <- struct{}{} }, nil
		}),
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Close()

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/sse", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := NewReader(resp.Body, 1<<20)
	ev, err := r.Next()
	if err != nil || ev.Name != "endpoint" || !strings.HasPrefix(string(ev.Data), "/message?sessionId=") {
		t.Fatalf("first event %+v, %v; want the endpoint", ev, err)
	}
	endpoint := hs.URL + string(ev.Data)
	post := func(body string) int {
		resp, err := http.Post(endpoint, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	next := func() string {
		for {
			ev, err := r.Next()
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if ev.Name == "message" {
				return string(ev.Data)
			}
		}
	}
	if s := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`); s != http.StatusAccepted {
		t.Fatalf("POST initialize: HTTP %d", s)
	}
	if got := next(); !strings.Contains(got, `"protocolVersion"`) {
		t.Fatalf("initialize answer %s", got)
	}
	post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	post(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if got := next(); strings.Contains(got, "test_simple_text") || !strings.Contains(got, "test_error_handling") {
		t.Fatalf("tools/list through the gate: %s", got)
	}
	post(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}}`)
	if got := next(); !strings.Contains(got, `unknown tool \"test_simple_text\"`) { // the server's own words
		t.Fatalf("hidden tool answered %s", got)
	}

	if s := post(`{"jsonrpc":`); s != http.StatusBadRequest {
		t.Errorf("malformed JSON: HTTP %d, want 400", s)
	}
	if s := post(`{"jsonrpc":"2.0","method":"x","params":{"pad":"` + strings.Repeat("a", 5000) + `"}}`); s != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: HTTP %d, want 413", s)
	}
	if resp, err := http.Post(hs.URL+"/message?sessionId=nope", "application/json", bytes.NewReader([]byte(`{}`))); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown session: %v %v", resp.StatusCode, err)
	}

	// Closing the stream ends the session and stops its server.
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the server was not stopped when the stream closed")
	}
	if s := post(`{"jsonrpc":"2.0","id":4,"method":"tools/list"}`); s != http.StatusNotFound {
		t.Errorf("after the stream closed: HTTP %d, want 404", s)
	}
}
