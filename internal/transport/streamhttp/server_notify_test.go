package streamhttp

import (
	"bytes"
	"context"
	decision "github.com/tollgate-mcp/tollgate/internal/event"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// eventLog records the gate's decisions.
type eventLog struct {
	mu  sync.Mutex
	evs []decision.Event
}

func (l *eventLog) Record(ev decision.Event) {
	ev.Args = append([]byte(nil), ev.Args...)
	l.mu.Lock()
	l.evs = append(l.evs, ev)
	l.mu.Unlock()
}

// droppedCall reports whether the gate recorded a tools/call of tool sent
// as a notification, and under which session.
func (l *eventLog) droppedCall(tool string) (session string, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.evs {
		if ev.Decision == "invalid" && ev.Tool == tool && strings.Contains(ev.Reason, "notification") {
			return ev.Session, true
		}
	}
	return "", false
}

// recording is a gateOpt that records the gate's decisions in l.
func recording(l *eventLog) gateOpt {
	return func(g *gate.Gate) { g.Recorder = l }
}

// callNote is a tools/call without an id: a notification that a server
// dispatching on the method alone would run, unjudged.
const callNote = `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"count","arguments":{}}}`

// TestFrontCallAsNotificationNeverRuns: a tools/call sent as a
// notification goes through the session pump on every HTTP front and era,
// which audits and drops it: the server's counting tool does not run, and
// the next real call is its first.
func TestFrontCallAsNotificationNeverRuns(t *testing.T) {
	first := func(t *testing.T, a []byte, srv *sdkServer, log *eventLog) {
		t.Helper()
		if !bytes.Contains(a, []byte("call 1")) {
			t.Fatalf("the call after the notification: %s; want the tool's first run", a)
		}
		if n := srv.counted.Load(); n != 1 {
			t.Fatalf("the tool ran %d times, want once", n)
		}
		if n := srv.received("tools/call"); n != 1 {
			t.Fatalf("the server read %d tools/call messages, want 1 (the notification reached it)", n)
		}
		if _, ok := log.droppedCall("count"); !ok {
			t.Fatalf("no audit event for the dropped notification: %+v", log.evs)
		}
	}

	t.Run("session 2025-11-25", func(t *testing.T) {
		log := &eventLog{}
		hs, srv, _ := newSDKFront(t, "", recording(log))
		c := newFrontClient(t, hs.URL)
		c.initialize(mcp.Version20251125)
		if status, _ := c.call(callNote); status != http.StatusAccepted {
			t.Fatalf("notification: HTTP %d, want 202", status)
		}
		_, a := c.call(frontCall("1", "count", `{}`))
		first(t, a, srv, log)
	})

	t.Run("batch 2025-03-26", func(t *testing.T) {
		log := &eventLog{}
		hs, srv, _ := newSDKFront(t, "", recording(log))
		c := newFrontClient(t, hs.URL)
		c.initialize(mcp.Version20250326)
		_, a := c.call(`[` + callNote + `,` + frontCall("1", "count", `{}`) + `]`)
		first(t, a, srv, log)
	})

	t.Run("stateless 2026-07-28", func(t *testing.T) {
		log := &eventLog{}
		hs, srv, _ := newSDKFront(t, "", recording(log))
		c := newFrontClient(t, hs.URL)
		meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
		note := `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"count","arguments":{},` + meta + `}}`
		hdr := []string{HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "tools/call", HeaderName, "count"}
		if status, _ := c.call(note, hdr...); status != http.StatusAccepted {
			t.Fatalf("notification: HTTP %d, want 202", status)
		}
		_, a := c.call(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"count","arguments":{},`+meta+`}}`, hdr...)
		first(t, a, srv, log)
		if sid, _ := log.droppedCall("count"); sid != "stateless" {
			t.Errorf("audited under session %q, want %q", sid, "stateless")
		}
	})

	t.Run("legacy SSE 2024-11-05", func(t *testing.T) {
		log := &eventLog{}
		_, srv, front := newSDKFront(t, "", recording(log))
		legacy := sse.NewServer(sse.ServerOptions{Upstream: transport.DialFunc(srv.upstream), Handler: front.opts.Handler})
		hs := httptest.NewServer(legacy)
		t.Cleanup(func() {
			legacy.Close()
			hs.Close()
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/sse", nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		events := sse.NewReader(resp.Body, 1<<20)
		ep, err := events.Next()
		if err != nil || ep.Name != "endpoint" {
			t.Fatalf("first event %+v, %v; want the endpoint", ep, err)
		}
		postURL := hs.URL + string(ep.Data)
		post := func(body string) {
			t.Helper()
			r, err := http.Post(postURL, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != http.StatusAccepted {
				t.Fatalf("POST %s: HTTP %d", body, r.StatusCode)
			}
		}
		answer := func(id string) []byte {
			t.Helper()
			for {
				ev, err := events.Next()
				if err != nil {
					t.Fatalf("waiting for the answer to %s: %v", id, err)
				}
				if bytes.Contains(ev.Data, []byte(`"id":`+id)) {
					return append([]byte(nil), ev.Data...)
				}
			}
		}
		post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
		answer("0")
		post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		post(callNote)
		post(frontCall("1", "count", `{}`))
		first(t, answer("1"), srv, log)
	})
}
