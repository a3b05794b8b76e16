package streamhttp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"

	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

func TestFrontStatusCodes(t *testing.T) {
	hs, _, _ := newFront(t)
	c := newFrontClient(t, hs.URL)
	c.initialize(mcp.Version20251125)
	list := `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`

	tests := []struct {
		name   string
		method string
		body   string
		hdr    []string
		want   int
		code   int // JSON-RPC error code in the body, 0: not checked
	}{
		{"missing session", http.MethodPost, list, []string{HeaderSessionID, ""}, http.StatusBadRequest, jsonrpc.CodeInvalidRequest},
		{"unknown session", http.MethodPost, list, []string{HeaderSessionID, "no-such-session"}, http.StatusNotFound, jsonrpc.CodeInvalidRequest},
		{"GET unknown session", http.MethodGet, "", []string{HeaderSessionID, "no-such-session"}, http.StatusNotFound, 0},
		{"GET missing session", http.MethodGet, "", []string{HeaderSessionID, ""}, http.StatusBadRequest, 0},
		{"bad Accept", http.MethodPost, list, []string{"Accept", "text/html"}, http.StatusNotAcceptable, jsonrpc.CodeInvalidRequest},
		{"GET without event-stream", http.MethodGet, "", []string{"Accept", "application/json"}, http.StatusNotAcceptable, 0},
		{"unsupported protocol version", http.MethodPost, list, []string{HeaderProtocolVersion, "1999-01-01"}, http.StatusBadRequest, CodeUnsupportedVersion},
		{"malformed JSON", http.MethodPost, `{"jsonrpc":"2.0",`, nil, http.StatusBadRequest, jsonrpc.CodeParseError},
		{"not JSON", http.MethodPost, list, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType, 0},
		{"notification", http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`, nil, http.StatusAccepted, 0},
		{"PUT", http.MethodPut, list, nil, http.StatusMethodNotAllowed, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := c.request(t.Context(), tt.method, tt.body, tt.hdr...)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("HTTP %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.want == http.StatusAccepted && len(body) != 0 {
				t.Errorf("202 with a body: %s", body)
			}
			if tt.code != 0 {
				if got := rpcErrorCode(t, body); got != tt.code {
					t.Errorf("JSON-RPC error %d, want %d: %s", got, tt.code, body)
				}
			}
		})
	}
}

func TestFrontBodyLimit(t *testing.T) {
	hs, fk, _ := newFront(t, func(o *ServerOptions) { o.MaxMessageSize = 512 })
	c := newFrontClient(t, hs.URL)
	c.initialize(mcp.Version20251125)
	big := frontCall("1", "echo", `{"x":"`+strings.Repeat("a", 600)+`"}`)
	status, a := c.call(big)
	if status != http.StatusRequestEntityTooLarge || rpcErrorCode(t, a) != jsonrpc.CodeInvalidRequest {
		t.Fatalf("HTTP %d %s, want 413 with a JSON-RPC error", status, a)
	}
	if fk.last().saw(`"tools/call"`) {
		t.Error("the oversized call reached the server")
	}
	// The session still works.
	if status, a := c.call(frontCall("2", "echo", `{"x":1}`)); status != 200 || rpcErrorCode(t, a) != 0 {
		t.Fatalf("after 413: HTTP %d %s", status, a)
	}
}

func TestFrontJSONAndSSEAnswers(t *testing.T) {
	hs, _, _ := newFront(t)
	c := newFrontClient(t, hs.URL)
	c.initialize(mcp.Version20251125)

	resp := c.post(frontCall("1", "echo", `{"a":1}`))
	a, events := readAnswer(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	if len(events) < 2 || len(events[0].Data) != 0 || !events[0].HasID || events[0].Retry == 0 {
		t.Fatalf("want a priming event (id, retry, empty data) first, got %+v", events)
	}
	for _, ev := range events {
		if !ev.HasID || ev.ID == "" {
			t.Errorf("event without an id: %+v", ev)
		}
	}
	if !bytes.Contains(a, []byte(`{\"a\":1}`)) {
		t.Fatalf("answer %s", a)
	}

	c.json = true
	resp = c.post(frontCall("2", "echo", `{"b":2}`))
	a, _ = readAnswer(t, resp)
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || !bytes.Contains(a, []byte(`{\"b\":2}`)) {
		t.Fatalf("JSON answer: Content-Type %q, %s", ct, a)
	}
}

// TestBypassOverHTTP repeats the core's bypass checks over the HTTP front:
// what the gate judges is what the server would run, and nothing denied
// reaches the server.
func TestFrontBypassOverHTTP(t *testing.T) {
	hs, fk, _ := newFront(t)
	c := newFrontClient(t, hs.URL)
	c.initialize(mcp.Version20251125)
	srv := fk.last()

	t.Run("duplicate keys in arguments", func(t *testing.T) {
		_, a := c.call(`{"jsonrpc":"2.0","id":"dup","method":"tools/call","params":{"name":"echo","arguments":{"path":"/ok","path":"/etc/passwd"}}}`)
		if rpcErrorCode(t, a) != jsonrpc.CodeInvalidParams {
			t.Fatalf("answer %s, want -32602", a)
		}
		if srv.saw(`"dup"`) {
			t.Error("the ambiguous call reached the server")
		}
	})
	t.Run("Name beside name", func(t *testing.T) {
		_, a := c.call(`{"jsonrpc":"2.0","id":"case","method":"tools/call","params":{"name":"echo","Name":"danger","arguments":{}}}`)
		if rpcErrorCode(t, a) != jsonrpc.CodeInvalidParams {
			t.Fatalf("answer %s, want -32602", a)
		}
		if srv.saw(`"case"`) {
			t.Error("the ambiguous call reached the server")
		}
	})
	t.Run("hidden tool called directly", func(t *testing.T) {
		_, hidden := c.call(frontCall(`"h"`, "secret", `{}`))
		_, unknown := c.call(frontCall(`"h"`, "no_such_tool", `{}`))
		if string(hidden) != strings.Replace(string(unknown), "no_such_tool", "secret", 1) {
			t.Fatalf("hidden tool answered %s; an unknown tool %s", hidden, unknown)
		}
		if srv.saw(`"secret"`) {
			t.Error("the hidden tool's call reached the server")
		}
	})
	t.Run("denied call", func(t *testing.T) {
		_, a := c.call(frontCall(`"d"`, "danger", `{}`))
		if !bytes.Contains(a, []byte("[POLICY DENIED]")) || !bytes.Contains(a, []byte(`"isError":true`)) {
			t.Fatalf("answer %s", a)
		}
		if srv.saw(`"danger"`) {
			t.Error("the denied call reached the server")
		}
	})
	t.Run("hidden tool not listed", func(t *testing.T) {
		_, a := c.call(`{"jsonrpc":"2.0","id":"l","method":"tools/list"}`)
		if bytes.Contains(a, []byte("secret")) || !bytes.Contains(a, []byte("echo")) {
			t.Fatalf("tools/list %s", a)
		}
	})
	for _, id := range []string{`"1"`, `1`, `1.5`, `9007199254740993`, `"\u0061"`} {
		t.Run("id "+id, func(t *testing.T) {
			for _, json := range []bool{false, true} {
				c.json = json
				_, a := c.call(frontCall(id, "echo", `{}`))
				m, err := jsonrpc.Parse(a, false)
				if err != nil || string(m.ID) != id {
					t.Fatalf("json=%v: answer id %s, want %s byte for byte (%s)", json, m.ID, id, a)
				}
			}
			c.json = false
		})
	}
}

func TestFrontBatches(t *testing.T) {
	hs, fk, _ := newFront(t)
	batch := `[` + frontCall("1", "echo", `{"n":1}`) + `,` + frontCall("2", "danger", `{}`) + `]`

	t.Run("2025-11-25 rejects", func(t *testing.T) {
		c := newFrontClient(t, hs.URL)
		c.initialize(mcp.Version20251125)
		_, a := c.call(batch)
		if rpcErrorCode(t, a) != jsonrpc.CodeInvalidRequest || !bytes.Contains(a, []byte("batches are not allowed")) {
			t.Fatalf("answer %s", a)
		}
		if fk.last().saw(`"tools/call"`) {
			t.Error("a rejected batch reached the server")
		}
	})
	t.Run("2025-03-26 governs each element", func(t *testing.T) {
		c := newFrontClient(t, hs.URL)
		c.initialize(mcp.Version20250326)
		_, a := c.call(batch)
		elems, err := jsonrpc.SplitBatch(a, false)
		if err != nil || len(elems) != 2 {
			t.Fatalf("answer %s (%v), want a batch of 2", a, err)
		}
		if !bytes.Contains(a, []byte(`{\"n\":1}`)) || !bytes.Contains(a, []byte("[POLICY DENIED]")) {
			t.Fatalf("answer %s", a)
		}
		srv := fk.last()
		if !srv.saw(`"echo"`) || srv.saw(`"danger"`) {
			t.Errorf("the server got %q", srv.received())
		}
	})
}

func TestFrontProgressAndServerRequestsOnTheCallStream(t *testing.T) {
	hs, _, _ := newFront(t)
	c := newFrontClient(t, hs.URL)
	c.initialize(mcp.Version20251125)

	resp := c.post(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"progress","arguments":{},"_meta":{"progressToken":"tok"}}}`)
	_, events := readAnswer(t, resp)
	var kinds []string
	for _, ev := range events {
		switch {
		case len(ev.Data) == 0:
			kinds = append(kinds, "prime")
		case bytes.Contains(ev.Data, []byte("notifications/progress")) && bytes.Contains(ev.Data, []byte(`"tok"`)):
			kinds = append(kinds, "progress")
		case bytes.Contains(ev.Data, []byte(`"id":5`)):
			kinds = append(kinds, "answer")
		}
	}
	if strings.Join(kinds, ",") != "prime,progress,answer" {
		t.Fatalf("events %v, want prime,progress,answer: %+v", kinds, events)
	}

	// A server request during a call travels on that call's stream; the
	// client's answer is POSTed (202) and the call completes.
	resp = c.post(frontCall("6", "ask", `{}`))
	defer resp.Body.Close()
	r := sse.NewReader(resp.Body, 1<<20)
	for {
		ev, err := r.Next()
		if err != nil {
			t.Fatalf("stream ended before the server request: %v", err)
		}
		if bytes.Contains(ev.Data, []byte("sampling/createMessage")) {
			m, _ := jsonrpc.Parse(ev.Data, false)
			ack := c.post(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"role":"assistant","content":{"type":"text","text":"hi"}}}`)
			ack.Body.Close()
			if ack.StatusCode != http.StatusAccepted {
				t.Fatalf("posting the response: HTTP %d, want 202", ack.StatusCode)
			}
			continue
		}
		if bytes.Contains(ev.Data, []byte(`"id":6`)) {
			if !bytes.Contains(ev.Data, []byte("client said")) {
				t.Fatalf("answer %s", ev.Data)
			}
			return
		}
	}
}

func TestFrontLastEventIDResumption(t *testing.T) {
	hs, fk, _ := newFront(t)
	c := newFrontClient(t, hs.URL)
	c.initialize(mcp.Version20251125)
	srv := fk.last()

	ctx, cancel := context.WithCancel(t.Context())
	resp := c.request(ctx, http.MethodPost, frontCall("9", "slow", `{}`))
	r := sse.NewReader(resp.Body, 1<<20)
	prime, err := r.Next()
	if err != nil || !prime.HasID || len(prime.Data) != 0 {
		t.Fatalf("first event %+v, %v; want a priming event", prime, err)
	}
	cancel() // the connection drops mid-call
	resp.Body.Close()
	mcptest.Eventually(t, 10*time.Second, func() bool { return srv.saw(`"slow"`) }, "the server to get the call")
	close(srv.release) // the answer comes while nobody listens

	// Another session cannot resume this session's stream.
	other := newFrontClient(t, hs.URL)
	other.initialize(mcp.Version20251125)
	o := other.request(t.Context(), http.MethodGet, "", "Last-Event-ID", prime.ID)
	o.Body.Close()
	if o.StatusCode == http.StatusOK {
		t.Fatalf("another session resumed the stream (HTTP %d)", o.StatusCode)
	}

	g := c.request(t.Context(), http.MethodGet, "", "Last-Event-ID", prime.ID)
	a, events := readAnswer(t, g)
	if g.StatusCode != http.StatusOK || !bytes.Contains(a, []byte("slow done")) {
		t.Fatalf("resumed: HTTP %d %s", g.StatusCode, a)
	}
	for _, ev := range events {
		if ev.ID == prime.ID {
			t.Errorf("the event %s was replayed", prime.ID)
		}
	}
}

func TestFrontGETStreamCarriesUnrelatedMessages(t *testing.T) {
	hs, _, front := newFront(t)
	c := newFrontClient(t, hs.URL)
	c.initialize(mcp.Version20251125)
	// A message the server sends with no call open goes to the GET stream,
	// queued until the client opens it.
	front.mu.Lock()
	ss := front.sessions[c.sid]
	front.mu.Unlock()
	_ = frontConn{ss}.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	g := c.request(ctx, http.MethodGet, "")
	defer g.Body.Close()
	ev, err := sse.NewReader(g.Body, 1<<20).Next()
	if err != nil || !bytes.Contains(ev.Data, []byte("list_changed")) {
		t.Fatalf("GET stream: %+v %v", ev, err)
	}
	// One standalone stream per session.
	dup := c.request(t.Context(), http.MethodGet, "")
	dup.Body.Close()
	if dup.StatusCode != http.StatusConflict {
		t.Errorf("second GET: HTTP %d, want 409", dup.StatusCode)
	}
}

func TestFrontSessionBelongsToItsIdentity(t *testing.T) {
	hs, _, _ := newFront(t, func(o *ServerOptions) {
		o.Identity = func(r *http.Request) string { return r.Header.Get("X-Test-User") }
	})
	c := newFrontClient(t, hs.URL)
	c.header.Set("X-Test-User", "alice")
	c.initialize(mcp.Version20251125)
	status, _ := c.call(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, "X-Test-User", "bob")
	if status != http.StatusNotFound {
		t.Fatalf("bob used alice's session: HTTP %d, want 404", status)
	}
}

func TestFrontDeleteEndsSessionAndStopsChild(t *testing.T) {
	server := mcptest.Peer(t, "everything-server")
	pol := newFrontPolicy(t)
	var mu sync.Mutex
	var children []*stdio.Child
	front := NewServer(ServerOptions{
		Handler: proxy.NewHandler(pol, nil),
		Upstream: transport.DialFunc(func(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
			ch, err := stdio.StartChild(ctx, []string{server}, stdio.ChildOptions{Stderr: io.Discard})
			if err != nil {
				return nil, nil, err
			}
			mu.Lock()
			children = append(children, ch)
			mu.Unlock()
			return ch.Conn(), func() { ch.Stop(2 * time.Second) }, nil
		}),
	})
	defer front.Close()
	hs := newHTTPTest(t, front)
	c := newFrontClient(t, hs.URL)
	c.initialize(mcp.Version20251125)
	if _, a := c.call(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); !bytes.Contains(a, []byte("test_simple_text")) {
		t.Fatalf("tools/list %s", a)
	}
	mu.Lock()
	child := children[0]
	mu.Unlock()
	resp := c.request(t.Context(), http.MethodDelete, "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: HTTP %d", resp.StatusCode)
	}
	select {
	case <-child.Done():
	default:
		t.Fatal("DELETE returned but the child still runs")
	}
	if status, _ := c.call(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); status != http.StatusNotFound {
		t.Fatalf("after DELETE: HTTP %d, want 404", status)
	}
	if n := front.Sessions(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

func TestFrontIdleSessionsExpire(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	hs, fk, front := newFront(t, func(o *ServerOptions) { o.Now = clock; o.SessionTimeout = time.Hour })
	c := newFrontClient(t, hs.URL)
	c.initialize(mcp.Version20251125)
	front.Expire()
	if front.Sessions() != 1 {
		t.Fatal("a fresh session expired")
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	front.Expire()
	if front.Sessions() != 0 {
		t.Fatal("an idle session did not expire")
	}
	select {
	case <-fk.last().closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the expired session's server was not stopped")
	}
	if status, _ := c.call(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`); status != http.StatusNotFound {
		t.Fatalf("after expiry: HTTP %d, want 404", status)
	}
}

func TestFrontStateless2026(t *testing.T) {
	hs, _, _ := newFront(t)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	call := func(id, name string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + name + `","arguments":{"x":1},` + meta + `}}`
	}
	c := newFrontClient(t, hs.URL)
	base := []string{HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "tools/call", HeaderName, "echo"}

	status, a := c.call(`{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{`+meta+`}}`, HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "server/discover")
	if status != http.StatusOK || !bytes.Contains(a, []byte("supportedVersions")) {
		t.Fatalf("server/discover without a session: HTTP %d %s", status, a)
	}
	status, a = c.call(call("2", "echo"), base...)
	if status != http.StatusOK || !bytes.Contains(a, []byte(`{\"x\":1}`)) {
		t.Fatalf("tools/call: HTTP %d %s", status, a)
	}
	c.json = true
	if status, a = c.call(call("3", "echo"), base...); status != http.StatusOK || !bytes.Contains(a, []byte(`"id":3`)) {
		t.Fatalf("tools/call as JSON: HTTP %d %s", status, a)
	}
	c.json = false
	// Mcp-Name in the sentinel encoding.
	if status, a = c.call(call("4", "echo"), append(base[:4:4], HeaderName, "=?base64?ZWNobw==?=")...); status != http.StatusOK {
		t.Fatalf("base64 Mcp-Name: HTTP %d %s", status, a)
	}
	// The policy applies without a session too.
	if _, a = c.call(call("5", "danger"), append(base[:4:4], HeaderName, "danger")...); !bytes.Contains(a, []byte("[POLICY DENIED]")) {
		t.Fatalf("denied tool: %s", a)
	}

	mismatch := []struct {
		name string
		hdr  []string
	}{
		{"Mcp-Name differs", append(base[:4:4], HeaderName, "danger")},
		{"Mcp-Name missing", base[:4:4]},
		{"Mcp-Method differs", []string{HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "tools/list", HeaderName, "echo"}},
		{"Mcp-Method missing", []string{HeaderProtocolVersion, mcp.Version20260728, HeaderName, "echo"}},
		{"bad base64", append(base[:4:4], HeaderName, "=?base64?!!!?=")},
	}
	for _, tt := range mismatch {
		t.Run(tt.name, func(t *testing.T) {
			status, a := c.call(call("6", "echo"), tt.hdr...)
			if status != http.StatusBadRequest || rpcErrorCode(t, a) != CodeHeaderMismatch {
				t.Fatalf("HTTP %d %s, want 400 with -32020", status, a)
			}
		})
	}
	t.Run("protocol version differs from _meta", func(t *testing.T) {
		body := strings.Replace(call("7", "echo"), "2026-07-28", "2025-11-25", 1)
		status, a := c.call(body, base...)
		if status != http.StatusBadRequest || rpcErrorCode(t, a) != CodeHeaderMismatch {
			t.Fatalf("HTTP %d %s, want 400 with -32020", status, a)
		}
	})
}

// TestFrontStatelessParamHeaders: once the front has listed a tool whose
// schema marks parameters with x-mcp-header, a 2026-07-28 call of it must
// carry each such argument in its Mcp-Param header, equal to the body.
func TestFrontStatelessParamHeaders(t *testing.T) {
	hs, _, _ := newFront(t)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	c := newFrontClient(t, hs.URL)
	if status, a := c.call(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{`+meta+`}}`,
		HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "tools/list"); status != http.StatusOK || !bytes.Contains(a, []byte("x-mcp-header")) {
		t.Fatalf("tools/list: HTTP %d %s", status, a)
	}
	call := func(args string, hdr ...string) (int, []byte) {
		body := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sql","arguments":` + args + `,` + meta + `}}`
		return c.call(body, append([]string{HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "tools/call", HeaderName, "sql"}, hdr...)...)
	}
	for _, tc := range []struct {
		name string
		args string
		hdr  []string
		ok   bool
	}{
		{"both headers", `{"region":"us-west1","limit":10}`, []string{"Mcp-Param-Region", "us-west1", "Mcp-Param-Limit", "10"}, true},
		{"base64 and a number written otherwise", `{"region":"Zürich","limit":10.0}`, []string{"Mcp-Param-Region", "=?base64?WsO8cmljaA==?=", "Mcp-Param-Limit", "10"}, true},
		{"absent and null need none", `{"region":null}`, nil, true},
		{"missing header", `{"region":"us-west1"}`, nil, false},
		{"other value", `{"region":"us-west1"}`, []string{"Mcp-Param-Region", "eu-west1"}, false},
		{"header without a value", `{}`, []string{"Mcp-Param-Limit", "5"}, false},
		{"a string value mirrored as it is", `{"limit":"10"}`, []string{"Mcp-Param-Limit", "10"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, a := call(tc.args, tc.hdr...)
			if tc.ok && status != http.StatusOK {
				t.Fatalf("HTTP %d %s, want the call through", status, a)
			}
			if !tc.ok && (status != http.StatusBadRequest || rpcErrorCode(t, a) != CodeHeaderMismatch) {
				t.Fatalf("HTTP %d %s, want 400 with -32020", status, a)
			}
		})
	}
}

func TestFrontStatelessCancelOnClose(t *testing.T) {
	hs, fk, _ := newFront(t)
	c := newFrontClient(t, hs.URL)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	ctx, cancel := context.WithCancel(t.Context())
	resp := c.request(ctx, http.MethodPost, `{"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"name":"slow","arguments":{},`+meta+`}}`,
		HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "tools/call", HeaderName, "slow")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	mcptest.Eventually(t, 10*time.Second, func() bool { return fk.count() > 0 && fk.last().saw(`"slow"`) }, "the call upstream")
	cancel()
	resp.Body.Close()
	mcptest.Eventually(t, 10*time.Second, func() bool { return fk.last().saw("notifications/cancelled") }, "the cancellation upstream")
}

func TestFrontCloseStopsEveryUpstream(t *testing.T) {
	hs, fk, front := newFront(t)
	for range 3 {
		newFrontClient(t, hs.URL).initialize(mcp.Version20251125)
	}
	if n := front.Sessions(); n != 3 {
		t.Fatalf("%d sessions, want 3", n)
	}
	front.Close()
	fk.mu.Lock()
	all := fk.all
	fk.mu.Unlock()
	for i, f := range all {
		// The pump closed the server's stdin before Close returned; the
		// fake notices on its own goroutine.
		mcptest.Eventually(t, 10*time.Second, func() bool {
			select {
			case <-f.closed:
				return true
			default:
				return false
			}
		}, "upstream "+strconv.Itoa(i)+" to stop")
	}
	if status, _ := newFrontClient(t, hs.URL).call(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`); status != http.StatusServiceUnavailable {
		t.Errorf("initialize after Close: HTTP %d, want 503", status)
	}
}
