package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/otel/oteltest"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const tracePolicy = `version: "1"
tools:
  forbidden:
    rules:
      - name: never
        action: deny
        on_deny: "not this one"
  limited:
    rules:
      - name: ten a minute
        rate_limit: 10/minute
`

const (
	clientTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpan   = "00f067aa0ba902b7"
	clientParent = "00-" + clientTrace + "-" + clientSpan + "-01"
)

// serverLine returns the line the recording server received that carries
// marker, waiting for it.
func serverLine(t *testing.T, log, marker string) string {
	t.Helper()
	var line string
	mcptest.Eventually(t, 10*time.Second, func() bool {
		data, _ := os.ReadFile(log)
		for _, l := range strings.Split(string(data), "\n") {
			if strings.Contains(l, marker) {
				line = l
				return true
			}
		}
		return false
	}, "the server to receive "+marker)
	return line
}

// noTraceEnv keeps the OTel environment of whoever runs the tests out.
func noTraceEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "OTEL_") {
			env = append(env, strings.SplitN(kv, "=", 2)[0]+"=")
		}
	}
	return env
}

// With tracing off, a call's bytes reach the server exactly as sent,
// _meta.traceparent included, and a call without one gets none.
func TestTracingOffForwardsBytesUnchanged(t *testing.T) {
	argv, log := recordingServer(t)
	p := startTollgate(t, tracePolicy, append(noTraceEnv(), "TOLLGATE_E2E_FAKE=echo", "XDG_STATE_HOME="+t.TempDir()), argv...)
	for _, line := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo", "_meta" : {"progressToken":7,"traceparent":"` + clientParent + `","tracestate":"rojo=1"},"arguments":{"a":1}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"a":2}}}`,
	} {
		if got := p.roundTrip(t, line); !strings.Contains(got, "ran: echo") {
			t.Fatalf("call answered %s", got)
		}
		id := line[strings.Index(line, `"id":`):strings.Index(line, `,"method"`)]
		if got := serverLine(t, log, id+`,"method":"tools/call"`); got != line {
			t.Errorf("tracing off: the server got\n%s\nnot\n%s", got, line)
		}
	}
}

// With tracing on (the standard OTEL_EXPORTER_OTLP_ENDPOINT), a call's
// spans reach an OTLP collector with the client's traceparent as their
// parent, and the server gets a traceparent in the client's trace naming
// Tollgate's client span, every other byte unchanged.
func TestTracingOnRewritesOnlyTraceparent(t *testing.T) {
	col := oteltest.NewCollector(t)
	argv, log := recordingServer(t)
	env := append(noTraceEnv(), "TOLLGATE_E2E_FAKE=echo", "XDG_STATE_HOME="+t.TempDir(), "OTEL_EXPORTER_OTLP_ENDPOINT="+col.URL,
		"OTEL_BSP_SCHEDULE_DELAY=50", "OTEL_SERVICE_NAME=tollgate-e2e")
	p := startTollgate(t, tracePolicy, env, argv...)

	// 1: a traceparent, other _meta keys and odd spacing around it.
	sent := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"limited", "_meta" : {"progressToken":7, "traceparent" : "` + clientParent + `","tracestate":"rojo=1","x.example/k":"v"},"arguments":{"a":1}}}`
	if got := p.roundTrip(t, sent); !strings.Contains(got, "ran: limited") {
		t.Fatalf("call answered %s", got)
	}
	got := serverLine(t, log, `"id":1,`)
	at := strings.Index(sent, clientParent)
	if len(got) != len(sent) || got[:at] != sent[:at] || got[at+55:] != sent[at+55:] {
		t.Fatalf("more than the traceparent changed:\nsent %s\ngot  %s", sent, got)
	}
	forwarded := got[at : at+55]
	if forwarded[3:35] != clientTrace || forwarded[36:52] == clientSpan || forwarded[53:] != "01" {
		t.Errorf("forwarded traceparent %s: want the client's trace, another span, sampled", forwarded)
	}

	// 2: no _meta at all: one is added, in a new trace.
	sent2 := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{}}}`
	if got := p.roundTrip(t, sent2); !strings.Contains(got, "ran: echo") {
		t.Fatalf("call answered %s", got)
	}
	got2 := serverLine(t, log, `"id":2,`)
	const head = `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"_meta":{"traceparent":"`
	if !strings.HasPrefix(got2, head) || got2[len(head)+55:] != `"},"name":"echo","arguments":{}}}` {
		t.Fatalf("call without _meta forwarded as\n%s", got2)
	}
	newTrace := got2[len(head)+3 : len(head)+35]

	// 3: denied: answered by Tollgate, never forwarded, traced.
	if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"forbidden","_meta":{"traceparent":"`+clientParent+`"}}}`); !strings.Contains(got, "[POLICY DENIED]") {
		t.Fatalf("denied call answered %s", got)
	}

	// Spans: call 1 (server, decide, reserve, client), call 2 (server,
	// decide, client), call 3 (server, decide).
	spans := col.WaitSpans(t, 9, 15*time.Second)
	byID := map[string]ptrace.Span{}
	for _, s := range spans {
		byID[s.SpanID().String()] = s
	}
	client := byID[forwarded[36:52]]
	if client.Name() != "tools/call limited" || client.Kind() != ptrace.SpanKindClient {
		t.Fatalf("the forwarded traceparent names %q (%v), want Tollgate's client span; spans: %v", client.Name(), client.Kind(), names(spans))
	}
	server := byID[client.ParentSpanID().String()]
	if server.Kind() != ptrace.SpanKindServer || server.Name() != "tools/call limited" || server.TraceID().String() != clientTrace ||
		server.ParentSpanID().String() != clientSpan || server.TraceState().AsRaw() != "rojo=1" {
		t.Fatalf("server span %q %v trace %s parent %s state %q", server.Name(), server.Kind(), server.TraceID(), server.ParentSpanID(), server.TraceState().AsRaw())
	}
	want := map[string]any{"mcp.method.name": "tools/call", "gen_ai.tool.name": "limited", "gen_ai.operation.name": "execute_tool",
		"jsonrpc.request.id": "1", "tollgate.decision": "allow"}
	gotAttrs := oteltest.Attrs(server.Attributes())
	delete(gotAttrs, "mcp.session.id")
	if diff := cmp.Diff(want, gotAttrs); diff != "" {
		t.Errorf("server span attributes (-want +got):\n%s", diff)
	}
	var decide, reserve ptrace.Span
	for _, s := range spans {
		switch {
		case s.Name() == "tollgate.decide" && s.ParentSpanID() == server.SpanID():
			decide = s
		case s.Name() == "tollgate.reserve":
			reserve = s
		}
	}
	if a := oteltest.Attrs(decide.Attributes()); a["tollgate.decision"] != "allow" || a["tollgate.rule"] != nil {
		t.Errorf("decision span %v", a)
	}
	if reserve.ParentSpanID() != decide.SpanID() || oteltest.Attrs(reserve.Attributes())["tollgate.admitted"] != true {
		t.Errorf("reservation span parent %s attrs %v, want under %s, admitted", reserve.ParentSpanID(), oteltest.Attrs(reserve.Attributes()), decide.SpanID())
	}
	if !client.StartTimestamp().AsTime().Before(server.EndTimestamp().AsTime().Add(time.Nanosecond)) || client.EndTimestamp() < client.StartTimestamp() {
		t.Errorf("client span %v–%v outside server span %v–%v", client.StartTimestamp(), client.EndTimestamp(), server.StartTimestamp(), server.EndTimestamp())
	}

	// Call 2's server span starts the trace the server was told of.
	roots := oteltest.Find(spans, "tools/call echo", ptrace.SpanKindServer)
	if len(roots) != 1 || roots[0].TraceID().String() != newTrace || !roots[0].ParentSpanID().IsEmpty() {
		t.Errorf("call 2 server spans %v, want one root in trace %s", roots, newTrace)
	}
	// Call 3: denied, with the rule; no client span, since nothing was sent.
	denied := oteltest.Find(spans, "tools/call forbidden", ptrace.SpanKindServer)
	if len(denied) != 1 {
		t.Fatalf("denied call: %d server spans", len(denied))
	}
	if a := oteltest.Attrs(denied[0].Attributes()); a["tollgate.decision"] != "deny" || a["tollgate.rule"] != "never" || a["error.type"] != "tool_error" {
		t.Errorf("denied call's span %v", a)
	}
	if n := len(oteltest.Find(spans, "tools/call forbidden", ptrace.SpanKindClient)); n != 0 {
		t.Errorf("a denied call has %d client spans", n)
	}
	if data, _ := os.ReadFile(log); strings.Contains(string(data), "forbidden") {
		t.Error("the denied call reached the server")
	}
	if res := col.Resources(); len(res) == 0 || oteltest.Attrs(res[0])["service.name"] != "tollgate-e2e" {
		t.Errorf("resource %v", res)
	}
}

func names(spans []ptrace.Span) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name()+"/"+s.Kind().String())
	}
	return out
}

// A collector that takes requests and never answers (or is gone) costs the
// calls nothing: every call is answered, spans beyond the small queue are
// dropped, and Tollgate still exits promptly when the client leaves.
func TestStalledCollectorNeverHoldsACall(t *testing.T) {
	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(stalled.Close)
	t.Cleanup(func() { close(release) })
	env := append(noTraceEnv(), "TOLLGATE_E2E_FAKE=echo", "XDG_STATE_HOME="+t.TempDir(), "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="+stalled.URL+"/v1/traces",
		"OTEL_BSP_MAX_QUEUE_SIZE=1", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE=1", "OTEL_EXPORTER_OTLP_TIMEOUT=600000")
	p := startTollgate(t, tracePolicy, env, fakeArgv(t)...)
	for i := range 40 {
		id := itoa(i + 1)
		if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":`+id+`,"method":"tools/call","params":{"name":"echo","_meta":{"traceparent":"`+clientParent+`"}}}`); !strings.Contains(got, "ran: echo") {
			t.Fatalf("call %s answered %s", id, got)
		}
	}
	p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // the flush gives up after 5 s
		t.Fatalf("tollgate did not exit with a stalled collector; stderr:\n%s", p.stderr.String())
	}
	if !strings.Contains(p.stderr.String(), "tracing: spans lost") {
		t.Errorf("lost spans not reported; stderr:\n%s", p.stderr.String())
	}
}

// recorder is a reverse proxy in front of an HTTP MCP server that keeps the
// tools/call bodies Tollgate sends it.
type recorder struct {
	mu    sync.Mutex
	calls []map[string]any
}

func (rec *recorder) start(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			var msg map[string]any
			if json.Unmarshal(body, &msg) == nil && msg["method"] == "tools/call" {
				rec.mu.Lock()
				rec.calls = append(rec.calls, msg)
				rec.mu.Unlock()
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + u.Path
}

func (rec *recorder) meta(t *testing.T, tool string) map[string]any {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, c := range rec.calls {
		params, _ := c["params"].(map[string]any)
		if params["name"] == tool {
			m, _ := params["_meta"].(map[string]any)
			return m
		}
	}
	t.Fatalf("the server never got a call to %s", tool)
	return nil
}

// Through the built binary, between the Go SDK's client and its conformance
// everything-server (over HTTP, behind a recorder): the server receives a
// traceparent in the client's trace, naming the span Tollgate exported for
// the forwarded call; with tracing off it receives the client's own.
func TestTracingGoSDKConformanceServer(t *testing.T) {
	for _, on := range []bool{true, false} {
		name := map[bool]string{true: "on", false: "off"}[on]
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			upstream := rec.start(t, mcptest.EverythingServerHTTP(t, true))
			col := oteltest.NewCollector(t)
			args := []string{"run", "-c", writePolicy(t, conformancePolicy), "--state", "memory", "--upstream", upstream}
			if on {
				args = append(args, "--otlp-endpoint", col.URL)
			}
			cmd := exec.Command(mcptest.Tollgate(t), args...)
			cmd.Env = append(os.Environ(), noTraceEnv()...)
			cmd.Stderr = &testLog{t: t}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
			cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
			if err != nil {
				t.Fatalf("connect through tollgate: %v", err)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text", Meta: mcp.Meta{"traceparent": clientParent, "tracestate": "congo=t61rcWkgMzE"}})
			if err != nil || res.IsError {
				t.Fatalf("call: %v %+v", err, res)
			}
			if err := cs.Close(); err != nil {
				t.Logf("close: %v", err)
			}
			meta := rec.meta(t, "test_simple_text")
			tp, _ := meta["traceparent"].(string)
			if meta["tracestate"] != "congo=t61rcWkgMzE" {
				t.Errorf("tracestate forwarded as %v", meta["tracestate"])
			}
			if !on {
				if tp != clientParent {
					t.Errorf("tracing off: the server got traceparent %q, want the client's %q", tp, clientParent)
				}
				return
			}
			if len(tp) != 55 || tp[3:35] != clientTrace || tp[36:52] == clientSpan {
				t.Fatalf("the server got traceparent %q: want the client's trace %s under another span", tp, clientTrace)
			}
			spans := col.WaitSpans(t, 3, 15*time.Second) // flushed when Tollgate exits
			cl := oteltest.Find(spans, "tools/call test_simple_text", ptrace.SpanKindClient)
			sv := oteltest.Find(spans, "tools/call test_simple_text", ptrace.SpanKindServer)
			if len(cl) != 1 || len(sv) != 1 {
				t.Fatalf("spans %v", names(spans))
			}
			if cl[0].SpanID().String() != tp[36:52] || cl[0].ParentSpanID() != sv[0].SpanID() || sv[0].ParentSpanID().String() != clientSpan {
				t.Errorf("client span %s (parent %s), server span %s (parent %s); upstream traceparent %s",
					cl[0].SpanID(), cl[0].ParentSpanID(), sv[0].SpanID(), sv[0].ParentSpanID(), tp)
			}
			a := oteltest.Attrs(sv[0].Attributes())
			if a["mcp.protocol.version"] == nil || a["mcp.session.id"] == nil || a["jsonrpc.request.id"] == nil {
				t.Errorf("server span attributes %v", a)
			}
		})
	}
}
