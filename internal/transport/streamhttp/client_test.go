package streamhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

func TestClientJSONAndSSEAnswers(t *testing.T) {
	f := newFake(t)
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		sw := sseWriter(w)
		sw.Write(sse.Event{ID: "e1", HasID: true}) // priming
		sw.Write(sse.Event{ID: "e2", HasID: true, Data: []byte(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}`)})
		sw.Write(sse.Event{ID: "e3", HasID: true, Name: "message", Data: jsonrpc.AppendResult(nil, m.ID, []byte(`{"content":[]}`))})
	}
	s := newServer(t, f)
	c := dialT(t, s.URL+"/mcp", ClientOptions{})
	fr := readFrames(c)
	resp := handshake(t, f, c, fr)
	mustContain(t, resp, `"id":0`, `"protocolVersion":"2025-11-25"`)

	write(t, c, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	mustContain(t, fr.next(t), `"id":1`, `"result"`)
	write(t, c, callReq(2, "x"))
	mustContain(t, fr.next(t), `notifications/progress`)
	mustContain(t, fr.next(t), `"id":2`, `"content":[]`)

	for _, p := range append(f.postsOf("tools/list"), f.postsOf("notifications/initialized")...) {
		if got := p.header.Get("Mcp-Session-Id"); got != "s1" {
			t.Errorf("%s: Mcp-Session-Id = %q, want s1", p.method, got)
		}
		if got := p.header.Get("Mcp-Protocol-Version"); got != "2025-11-25" {
			t.Errorf("%s: MCP-Protocol-Version = %q, want 2025-11-25", p.method, got)
		}
		if got := p.header.Get("Accept"); !strings.Contains(got, "application/json") || !strings.Contains(got, "text/event-stream") {
			t.Errorf("%s: Accept = %q, want both types", p.method, got)
		}
	}
	init := f.postsOf("initialize")[0]
	if init.header.Get("Mcp-Session-Id") != "" || init.header.Get("Mcp-Protocol-Version") != "" {
		t.Errorf("initialize carried session headers: %v", init.header)
	}
	if init.body != initReq {
		t.Errorf("initialize body re-encoded:\n got %s\nwant %s", init.body, initReq)
	}
}

func TestClientLargeSSEEvent(t *testing.T) {
	big := strings.Repeat("x", 5<<20)
	f := newFake(t)
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		sseWriter(w).Write(sse.Event{Data: jsonrpc.AppendResult(nil, m.ID, []byte(`{"content":[{"type":"text","text":"`+big+`"}]}`))})
	}
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{MaxMessageSize: 6 << 20})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, callReq(1, "big"))
	got := fr.next(t)
	if len(got) < 5<<20 || !bytes.Contains(got, []byte(big)) {
		t.Fatalf("got %d bytes, want the 5 MiB result", len(got))
	}

	// The same answer over a limit of 1 MiB is an error, not silence.
	c2 := dialT(t, s.URL, ClientOptions{MaxMessageSize: 1 << 20})
	fr2 := readFrames(c2)
	handshake(t, f, c2, fr2)
	write(t, c2, callReq(1, "big"))
	mustContain(t, fr2.next(t), `"id":1`, `"error"`, "before the response")
}

func TestClientNotificationAccepted(t *testing.T) {
	f := newFake(t)
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, `{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}`)
	write(t, c, `{"jsonrpc":"2.0","id":9,"method":"ping"}`)
	// The ping's answer is the next frame: the 202s produced nothing.
	mustContain(t, fr.next(t), `"id":9`)
	if n := len(f.postsOf("notifications/roots/list_changed")); n != 1 {
		t.Fatalf("notification POSTed %d times", n)
	}
}

func TestClientJSONAnswerKeepsIDBytes(t *testing.T) {
	f := newFake(t)
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, `{"jsonrpc":"2.0","id":"a-1","method":"tools/list"}`)
	if got := idOf(t, fr.next(t)); got != `"a-1"` {
		t.Fatalf("id = %s", got)
	}
}

func TestClientReinitOn404(t *testing.T) {
	f := newFake(t)
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{ReinitOn404: true})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, callReq(1, "a"))
	mustContain(t, fr.next(t), `"id":1`, `"result"`)

	f.forget()
	write(t, c, callReq(2, "b"))
	got := fr.next(t)
	mustContain(t, got, `"id":2`, `"result"`) // not the replayed initialize's answer
	if n := len(f.postsOf("initialize")); n != 2 {
		t.Errorf("initialize sent %d times, want 2", n)
	}
	if n := len(f.postsOf("notifications/initialized")); n != 2 {
		t.Errorf("initialized sent %d times, want 2", n)
	}
	calls := f.postsOf("tools/call")
	if last := calls[len(calls)-1]; last.header.Get("Mcp-Session-Id") != "s2" {
		t.Errorf("retried call used session %q, want s2", last.header.Get("Mcp-Session-Id"))
	}
	// Later calls go to the new session directly.
	write(t, c, callReq(3, "c"))
	mustContain(t, fr.next(t), `"id":3`, `"result"`)
	if n := len(f.postsOf("initialize")); n != 2 {
		t.Errorf("initialize sent %d times, want 2", n)
	}
}

func TestClientReinitOn404Concurrent(t *testing.T) {
	f := newFake(t)
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{ReinitOn404: true})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	f.forget()
	for i := 1; i <= 8; i++ {
		write(t, c, callReq(i, "x"))
	}
	for range 8 {
		mustContain(t, fr.next(t), `"result"`)
	}
	if n := len(f.postsOf("initialize")); n != 2 {
		t.Errorf("initialize sent %d times, want 2 (one shared replay)", n)
	}
}

func TestClient404PassesOn(t *testing.T) {
	f := newFake(t)
	release := make(chan struct{})
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		if bytes.Contains([]byte(r.Header.Get("X-Slow")), []byte("1")) {
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(`{}`)))
	}
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	f.forget()
	write(t, c, callReq(1, "a"))
	mustContain(t, fr.next(t), `"id":1`, `"error"`, "session expired")
	close(release)
	err := fr.end(t)
	if !errors.Is(err, ErrSessionGone) {
		t.Fatalf("Read error = %v, want ErrSessionGone", err)
	}
	if n := len(f.postsOf("initialize")); n != 1 {
		t.Errorf("initialize sent %d times, want 1", n)
	}
}

func TestClientUnreachableUpstream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/mcp"
	ln.Close()
	c := dialT(t, url, ClientOptions{})
	fr := readFrames(c)
	write(t, c, initReq)
	got := fr.next(t)
	mustContain(t, got, `"id":0`, `"error"`, "upstream "+url+": connection refused")
	// Every request gets its own answer.
	seen := map[string]bool{}
	for i := 1; i <= 5; i++ {
		write(t, c, callReq(i, "x"))
	}
	for range 5 {
		f := fr.next(t)
		mustContain(t, f, "connection refused")
		seen[idOf(t, f)] = true
	}
	if len(seen) != 5 {
		t.Fatalf("answered ids %v, want 5 distinct", seen)
	}
}

func TestClientHTTPErrorsAnswered(t *testing.T) {
	f := newFake(t)
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		switch r.Header.Get("Mcp-Name") + string(m.ID) {
		default:
			if bytes.Contains(m.Params, []byte(`"rpc"`)) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32022,"message":"unsupported","data":{"supported":["2025-11-25"]}}}`))
				return
			}
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		}
	}
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, callReq(1, "plain"))
	mustContain(t, fr.next(t), `"id":1`, `"code":-32603`, "HTTP 503 Service Unavailable")
	write(t, c, callReq(2, "rpc"))
	// A JSON-RPC error body is passed on as the server wrote it, with the id.
	mustContain(t, fr.next(t), `"id":2`, `"code":-32022`, `"supported":["2025-11-25"]`)
}

func TestClientSecretsNeverLeak(t *testing.T) {
	const secret = "s3cr3t-t0ken"
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hdr := http.Header{"Authorization": {"Bearer " + secret}, "X-Api-Key": {secret}}

	// A server that echoes the request headers in its error page.
	s := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "bad request with %v", r.Header)
	}))
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()

	for _, url := range []string{
		s.URL + "/mcp?key=" + secret,
		"http://user:" + secret + "@" + dead + "/mcp?key=" + secret,
		"http://user:" + secret + "@" + strings.TrimPrefix(s.URL, "http://") + "/sse",
	} {
		c := dialT(t, url, ClientOptions{Header: hdr, Logger: logger})
		fr := readFrames(c)
		write(t, c, initReq)
		got := fr.next(t)
		mustContain(t, got, `"error"`)
		if bytes.Contains(got, []byte(secret)) {
			t.Errorf("error frame leaks the secret: %s", got)
		}
		write(t, c, callReq(1, "x"))
		if got := fr.next(t); bytes.Contains(got, []byte(secret)) {
			t.Errorf("error frame leaks the secret: %s", got)
		}
		c.Close()
	}
	if _, err := Dial(context.Background(), "ftp://user:"+secret+"@x/", ClientOptions{}); err == nil || strings.Contains(err.Error(), secret) {
		t.Errorf("Dial error = %v", err)
	}
	if strings.Contains(logs.String(), secret) {
		t.Errorf("logs leak the secret:\n%s", logs.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// A server that answers only once 16 calls are in flight proves they are in
// flight upstream at the same time; its connection count proves that calls
// reuse connections.
func TestClientConcurrentCallsReuseConnections(t *testing.T) {
	const inFlight, rounds = 16, 10
	var cur, peak atomic.Int32
	var mu sync.Mutex
	gate := make(chan struct{})
	f := newFake(t)
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		mu.Lock()
		n := cur.Add(1)
		if n > peak.Load() {
			peak.Store(n)
		}
		g := gate
		if n == inFlight {
			close(gate)
			gate = make(chan struct{})
		}
		mu.Unlock()
		select {
		case <-g:
		case <-time.After(clientWait):
		}
		cur.Add(-1)
		w.Header().Set("Content-Type", "application/json")
		w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(`{}`)))
	}
	var conns atomic.Int32
	s := httptest.NewUnstartedServer(f)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	id := 0
	for range rounds {
		start := time.Now()
		for range inFlight {
			id++
			write(t, c, callReq(id, "x"))
		}
		for range inFlight {
			mustContain(t, fr.next(t), `"result"`)
		}
		if time.Since(start) >= clientWait {
			t.Fatalf("a round took %v: calls were not all in flight at once (peak %d)", time.Since(start), peak.Load())
		}
	}
	if p := peak.Load(); p != inFlight {
		t.Errorf("peak calls in flight upstream = %d, want %d", p, inFlight)
	}
	// 16 for the calls, one for the handshake's spare; nothing per call.
	if n := conns.Load(); n > inFlight+2 {
		t.Errorf("%d TCP connections for %d calls, want at most %d", n, rounds*inFlight, inFlight+2)
	}
}

func TestClientResumeAfterDrop(t *testing.T) {
	f := newFake(t)
	var resumedWith atomic.Value
	var resultID atomic.Value
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		resultID.Store(append([]byte(nil), m.ID...))
		sw := sseWriter(w)
		sw.Write(sse.Event{ID: "p1", HasID: true, Retry: 20 * time.Millisecond})
		sw.Write(sse.Event{ID: "p2", HasID: true, Data: []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"half"}}`)})
		// The stream drops here, before the response.
	}
	f.onGet = func(w http.ResponseWriter, r *http.Request) {
		last := r.Header.Get("Last-Event-ID")
		if last == "" {
			http.Error(w, "no standalone stream", http.StatusMethodNotAllowed)
			return
		}
		resumedWith.Store(last)
		id, _ := resultID.Load().([]byte)
		sseWriter(w).Write(sse.Event{ID: "p3", HasID: true, Data: jsonrpc.AppendResult(nil, id, []byte(`{"content":[{"type":"text","text":"done"}]}`))})
	}
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, callReq(7, "slow"))
	mustContain(t, fr.next(t), `"half"`)
	mustContain(t, fr.next(t), `"id":7`, `"done"`)
	if got, _ := resumedWith.Load().(string); got != "p2" {
		t.Errorf("resumed with Last-Event-ID %q, want p2", got)
	}
}

func TestClientStreamEndsWithoutIDs(t *testing.T) {
	f := newFake(t)
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		sseWriter(w).Write(sse.Event{Data: []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{}}`)})
	}
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, callReq(1, "x"))
	fr.next(t)
	mustContain(t, fr.next(t), `"id":1`, `"error"`, "ended before the response")
}

// A sampling request arriving on a call's stream is relayed; the client's
// answer is POSTed back (202) and the call then completes.
func TestClientServerRequestDuringCall(t *testing.T) {
	f := newFake(t)
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		sw := sseWriter(w)
		sw.Write(sse.Event{Data: []byte(`{"jsonrpc":"2.0","id":"srv-1","method":"sampling/createMessage","params":{"messages":[],"maxTokens":5}}`)})
		select {
		case reply := <-f.replies:
			sw.Write(sse.Event{Data: jsonrpc.AppendResult(nil, m.ID, []byte(fmt.Sprintf(`{"content":[],"reply":%s}`, reply)))})
		case <-time.After(clientWait):
		}
	}
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, callReq(1, "sample"))
	mustContain(t, fr.next(t), `"sampling/createMessage"`, `"id":"srv-1"`)
	write(t, c, `{"jsonrpc":"2.0","id":"srv-1","result":{"role":"assistant","content":{"type":"text","text":"hi"}}}`)
	mustContain(t, fr.next(t), `"id":1`, `"text":"hi"`)
}

func TestClientGETStream(t *testing.T) {
	f := newFake(t)
	opened := make(chan http.Header, 4)
	f.onGet = func(w http.ResponseWriter, r *http.Request) {
		opened <- r.Header.Clone()
		sw := sseWriter(w)
		if r.Header.Get("Last-Event-ID") == "" {
			sw.Write(sse.Event{ID: "g1", HasID: true, Retry: 10 * time.Millisecond, Data: []byte(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`)})
			return // drop: the client must come back with Last-Event-ID g1
		}
		sw.Write(sse.Event{ID: "g2", HasID: true, Data: []byte(`{"jsonrpc":"2.0","id":"srv-2","method":"ping"}`)})
		<-r.Context().Done()
	}
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	mustContain(t, fr.next(t), `list_changed`)
	mustContain(t, fr.next(t), `"srv-2"`)
	first, second := <-opened, <-opened
	if first.Get("Mcp-Session-Id") != "s1" || first.Get("Last-Event-ID") != "" {
		t.Errorf("first GET headers %v", first)
	}
	if second.Get("Last-Event-ID") != "g1" {
		t.Errorf("second GET Last-Event-ID = %q, want g1", second.Get("Last-Event-ID"))
	}
}

func TestClientCloseWriteDrainsAndDeletes(t *testing.T) {
	f := newFake(t)
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		time.Sleep(50 * time.Millisecond) // a call still running at CloseWrite
		w.Header().Set("Content-Type", "application/json")
		w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(`{}`)))
	}
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, callReq(1, "x"))
	c.CloseWrite()
	mustContain(t, fr.next(t), `"id":1`)
	if err := fr.end(t); !errors.Is(err, io.EOF) {
		t.Fatalf("Read error = %v, want io.EOF", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.deletes) != 1 || f.deletes[0] != "s1" {
		t.Errorf("DELETEs %v, want [s1]", f.deletes)
	}
	if err := c.Write([]byte(callReq(2, "x"))); err == nil {
		t.Error("Write after CloseWrite succeeded")
	}
}

func TestClientCloseDeletesSession(t *testing.T) {
	f := newFake(t)
	block := make(chan struct{})
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, callReq(1, "x"))
	c.Close() // aborts the call in flight
	c.Close()
	close(block)
	if err := fr.end(t); !isClosedErr(err) {
		t.Fatalf("Read error = %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.deletes) != 1 {
		t.Errorf("DELETEs %v, want one", f.deletes)
	}
}

func TestClientRevision20260728Headers(t *testing.T) {
	var got []http.Header
	var mu sync.Mutex
	s := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m, _ := jsonrpc.Parse(body, false)
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(`{}`)))
	}))
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	write(t, c, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{},`+meta+`}}`)
	fr.next(t)
	write(t, c, `{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///é.txt",`+meta+`}}`)
	fr.next(t)
	write(t, c, `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{`+meta+`}}`)
	fr.next(t)
	want := []map[string]string{
		{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/call", "Mcp-Name": "get_weather"},
		{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "resources/read", "Mcp-Name": "=?base64?ZmlsZTovLy/DqS50eHQ=?="},
		{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": "tools/list", "Mcp-Name": "", "Mcp-Session-Id": ""},
	}
	mu.Lock()
	defer mu.Unlock()
	for i, w := range want {
		for k, v := range w {
			if g := got[i].Get(k); g != v {
				t.Errorf("request %d: %s = %q, want %q", i+1, k, g, v)
			}
		}
	}
}

func TestClientHeaderValue(t *testing.T) {
	for in, want := range map[string]string{
		"us-west1":           "us-west1",
		"Hello, 世界":          "=?base64?SGVsbG8sIOS4lueVjA==?=",
		" padded ":           "=?base64?IHBhZGRlZCA=?=",
		"line1\nline2":       "=?base64?bGluZTEKbGluZTI=?=",
		"=?base64?literal?=": "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=",
	} {
		if got := headerValue(in); got != want {
			t.Errorf("headerValue(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClientRequestTimeout(t *testing.T) {
	f := newFake(t)
	f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) {
		<-r.Context().Done()
	}
	s := newServer(t, f)
	c := dialT(t, s.URL, ClientOptions{RequestTimeout: 100 * time.Millisecond})
	fr := readFrames(c)
	handshake(t, f, c, fr)
	write(t, c, callReq(1, "hang"))
	mustContain(t, fr.next(t), `"id":1`, "timed out")
}

func TestClientDialRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://x/", "http://"} {
		if _, err := Dial(context.Background(), u, ClientOptions{}); err == nil {
			t.Errorf("Dial(%q) succeeded", u)
		}
	}
}

// An old server: POST to its URL is 404 (no JSON-RPC body), GET opens the
// legacy event stream. The ClientConn switches transparently.
func TestClientLegacyFallback(t *testing.T) {
	answers := make(chan []byte, 8)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sse", func(w http.ResponseWriter, r *http.Request) {
		sw := sseWriter(w)
		sw.Write(sse.Event{Name: "endpoint", Data: []byte("/message?sessionId=1")})
		for {
			select {
			case a := <-answers:
				sw.Write(sse.Event{Name: "message", Data: a})
			case <-r.Context().Done():
				return
			}
		}
	})
	mux.HandleFunc("POST /message", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m, _ := jsonrpc.Parse(body, false)
		w.WriteHeader(http.StatusAccepted)
		if m.IsRequest() {
			answers <- jsonrpc.AppendResult(nil, m.ID, []byte(`{"legacy":true}`))
		}
	})
	s := newServer(t, mux)
	c := dialT(t, s.URL+"/sse", ClientOptions{})
	fr := readFrames(c)
	write(t, c, initReq)
	mustContain(t, fr.next(t), `"id":0`, `"legacy":true`)
	write(t, c, initedNt)
	write(t, c, callReq(1, "x"))
	mustContain(t, fr.next(t), `"id":1`, `"legacy":true`)
	c.CloseWrite()
	if err := fr.end(t); !errors.Is(err, io.EOF) {
		t.Fatalf("Read error = %v, want io.EOF", err)
	}
}

func TestClientRedirectsStayOnOrigin(t *testing.T) {
	f := newFake(t)
	var foreignHits atomic.Int32
	foreign := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		http.Error(w, "should not be here", http.StatusTeapot)
	}))
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/mcp", http.StatusPermanentRedirect)
	})
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, foreign.URL+"/mcp", http.StatusTemporaryRedirect)
	})
	mux.Handle("/mcp", f)
	front := newServer(t, mux)

	c := dialT(t, front.URL+"/old", ClientOptions{Header: http.Header{"X-Api-Key": {"k"}}})
	fr := readFrames(c)
	write(t, c, initReq)
	mustContain(t, fr.next(t), `"id":0`, `"result"`)

	c2 := dialT(t, front.URL+"/away", ClientOptions{Header: http.Header{"X-Api-Key": {"k"}}})
	fr2 := readFrames(c2)
	write(t, c2, initReq)
	mustContain(t, fr2.next(t), `"id":0`, `"error"`, "another origin")
	if n := foreignHits.Load(); n != 0 {
		t.Errorf("the other origin got %d requests", n)
	}
}
