package gate

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/otel"
	"github.com/tollgate-mcp/tollgate/internal/otel/oteltest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

const (
	validParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	ours        = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01"
)

func oursContext(t *testing.T) otel.SpanContext {
	sc, err := otel.ParseTraceparent(ours)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// withTraceparent changes traceparent (and a tracestate whose parent could
// not be read) and nothing else; what it cannot change safely it leaves.
func TestWithTraceparent(t *testing.T) {
	sc := oursContext(t)
	for _, tc := range []struct{ name, in, want string }{
		{"no _meta", "", `{"traceparent":"` + ours + `"}`},
		{"empty", `{}`, `{"traceparent":"` + ours + `"}`},
		{"empty with space", `{ }`, `{"traceparent":"` + ours + `" }`},
		{"other keys", `{"progressToken":7}`, `{"traceparent":"` + ours + `","progressToken":7}`},
		{"replaced", `{"a":1,"traceparent":"` + validParent + `","b":2}`, `{"a":1,"traceparent":"` + ours + `","b":2}`},
		{"spacing kept", `{ "a" : 1 ,  "traceparent" :  "` + validParent + `" }`, `{ "a" : 1 ,  "traceparent" :  "` + ours + `" }`},
		{"escaped key", `{"trace\u0070arent":"` + validParent + `"}`, `{"trace\u0070arent":"` + ours + `"}`},
		{"state kept with a valid parent", `{"traceparent":"` + validParent + `","tracestate":"rojo=1"}`, `{"traceparent":"` + ours + `","tracestate":"rojo=1"}`},
		{"state of an unreadable parent dropped", `{"traceparent":"junk","tracestate":"rojo=1","b":2}`, `{"traceparent":"` + ours + `","b":2}`},
		{"state alone dropped", `{"tracestate":"rojo=1"}`, `{"traceparent":"` + ours + `"}`},
		{"state first dropped", `{"tracestate":"rojo=1", "b":2}`, `{"traceparent":"` + ours + `", "b":2}`},
		{"state last dropped", `{"b":2 , "tracestate":"rojo=1"}`, `{"traceparent":"` + ours + `","b":2 }`},
		{"non-string parent", `{"traceparent":5}`, `{"traceparent":"` + ours + `"}`},
		{"nested trace keys untouched", `{"x":{"traceparent":"keep"}}`, `{"traceparent":"` + ours + `","x":{"traceparent":"keep"}}`},
		{"case variant: unchanged", `{"TraceParent":"` + validParent + `"}`, ""},
		{"case variant of state: unchanged", `{"traceparent":"` + validParent + `","TraceState":"a=1"}`, ""},
		{"not an object: unchanged", `null`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var meta []byte
			if tc.in != "" {
				meta = []byte(tc.in)
			}
			got := withTraceparent(meta, sc, readMeta(meta))
			if string(got) != tc.want {
				t.Fatalf("withTraceparent(%s)\n got %s\nwant %s", tc.in, got, tc.want)
			}
			if got != nil && jsonrpc.CheckUnambiguous(got) != nil {
				t.Errorf("%s is not a valid, unambiguous object", got)
			}
		})
	}
}

// FuzzWithTraceparent: for any _meta object a client may send (ParseCall's
// strictness), what is forwarded is a valid unambiguous object whose
// traceparent is Tollgate's and whose other members are the client's.
func FuzzWithTraceparent(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"traceparent":"` + validParent + `","tracestate":"x=1"}`,
		`{"tracestate":"x=1"}`, `{ "b" : [1,{"c":"\""}] , "tracestate" : "" }`, `{"trace\u0073tate":"q","z":null}`} {
		f.Add(s)
	}
	sc, _ := otel.ParseTraceparent(ours)
	f.Fuzz(func(t *testing.T, in string) {
		meta := []byte(in)
		if len(meta) == 0 || meta[0] != '{' || jsonrpc.CheckUnambiguous(meta) != nil {
			return
		}
		read := readMeta(meta)
		out := withTraceparent(meta, sc, read)
		if out == nil {
			if !read.ambiguous {
				t.Fatalf("%s left unchanged though no key is ambiguous", in)
			}
			return
		}
		if err := jsonrpc.CheckUnambiguous(out); err != nil {
			t.Fatalf("%s → %s: %v", in, out, err)
		}
		var before, after map[string]json.RawMessage
		if json.Unmarshal(meta, &before) != nil || json.Unmarshal(out, &after) != nil {
			t.Fatalf("%s → %s does not decode", in, out)
		}
		if string(after["traceparent"]) != `"`+ours+`"` {
			t.Fatalf("%s → %s: traceparent %s", in, out, after["traceparent"])
		}
		for k, v := range before {
			if k == "traceparent" || k == "tracestate" && !read.parent.IsValid() {
				continue
			}
			if string(after[k]) != string(v) {
				t.Fatalf("%s → %s: member %q changed", in, out, k)
			}
		}
		if _, kept := after["tracestate"]; kept && !read.parent.IsValid() {
			t.Fatalf("%s → %s: the tracestate of an unreadable parent was kept", in, out)
		}
		if len(after) > len(before)+1 {
			t.Fatalf("%s → %s: members added", in, out)
		}
	})
}

// A traced gate: a hidden tool's probe is not rewritten, a forwarded call
// gets Tollgate's traceparent, and its spans reach the collector when it
// ends; tracing off leaves _meta alone.
func TestJudgeTraced(t *testing.T) {
	p, err := policy.Load("p.yaml", []byte(`version: "1"
hide: [secret]
tools:
  pay:
    rules:
      - name: small
        conditions:
          - path: args.amount
            op: lte
            value: 10
        on_deny: "too much"
`))
	if err != nil {
		t.Fatal(err)
	}
	col := oteltest.NewCollector(t)
	exp := otel.NewExporter(otel.Config{Endpoint: col.URL + "/v1/traces"}, nil)
	g := New(p)
	g.Tracer = otel.NewTracer(exp, otel.AlwaysOn)
	sess := &transport.Session{ID: "s1"}
	meta := []byte(`{"traceparent":"` + validParent + `","k":"v"}`)
	judge := func(tool, args string) proxy.Ruling {
		return g.Judge(context.Background(), &proxy.Call{Session: sess, ID: []byte(`"a-1"`), Tool: tool, Args: []byte(args), Meta: meta})
	}

	if r := judge("secret", `{}`); !r.Unknown || r.Meta != nil {
		t.Errorf("hidden tool: unknown %v, meta %s", r.Unknown, r.Meta)
	}
	if r := judge("pay", `{"amount":11}`); r.Answer == nil || r.Meta != nil {
		t.Errorf("denied call: answer %s, meta %s", r.Answer, r.Meta)
	}
	r := judge("pay", `{"amount":5}`)
	if r.Answer != nil || r.Ticket == nil || !strings.Contains(string(r.Meta), `"k":"v"`) {
		t.Fatalf("allowed call: %+v", r)
	}
	var m map[string]string
	_ = json.Unmarshal(r.Meta, &m)
	fwd, err := otel.ParseTraceparent(m["traceparent"])
	if err != nil || fwd.TraceID.String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("forwarded _meta %s", r.Meta)
	}
	if f, ok := r.Ticket.(proxy.ResultFilter); !ok || string(f.FilterResult([]byte(`"a-1"`), []byte("frame"), []byte(`{}`))) != "frame" {
		t.Error("the traced ticket does not pass results through its gate's filter")
	}
	r.Ticket.Done(proxy.End{Error: []byte(`{"code":-32602,"message":"bad arguments"}`)})
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Server and decision spans of three calls, a client span of one.
	spans := col.WaitSpans(t, 7, 10*time.Second)
	// A hidden tool is not named in its span's name.
	hidden := oteltest.Find(spans, "tools/call", ptrace.SpanKindServer)
	if len(hidden) != 1 || oteltest.Attrs(hidden[0].Attributes())["tollgate.decision"] != "hidden" ||
		oteltest.Attrs(hidden[0].Attributes())["gen_ai.tool.name"] != "secret" {
		t.Errorf("hidden call spans %v", hidden)
	}
	cl := oteltest.Find(spans, "tools/call pay", ptrace.SpanKindClient)
	if len(cl) != 1 || cl[0].SpanID().String() != fwd.SpanID.String() {
		t.Fatalf("client spans %v, forwarded %s", cl, fwd.SpanID)
	}
	a := oteltest.Attrs(cl[0].Attributes())
	if a["error.type"] != "-32602" || a["rpc.response.status_code"] != "-32602" || a["jsonrpc.request.id"] != "a-1" ||
		cl[0].Status().Code() != ptrace.StatusCodeError || cl[0].Status().Message() != "bad arguments" {
		t.Errorf("client span %v, status %v %q", a, cl[0].Status().Code(), cl[0].Status().Message())
	}

	// Off: nothing is added.
	g.Tracer = nil
	if r := judge("pay", `{"amount":5}`); r.Meta != nil {
		t.Errorf("tracing off: meta %s", r.Meta)
	}
}

// BenchmarkJudgeTracing judges an allowed call and ends it, with tracing
// off and on (spans exported to a receiver on 127.0.0.1 that discards
// them): what tracing adds to a call.
func BenchmarkJudgeTracing(b *testing.B) {
	p, err := policy.Load("p.yaml", []byte("version: \"1\"\ntools: {}\n"))
	if err != nil {
		b.Fatal(err)
	}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer sink.Close()
	sess := &transport.Session{ID: "s1"}
	meta := []byte(`{"progressToken":1,"traceparent":"` + validParent + `"}`)
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "on"}[on], func(b *testing.B) {
			g := New(p)
			if on {
				exp := otel.NewExporter(otel.Config{Endpoint: sink.URL + "/v1/traces", QueueSize: 1 << 16}, nil)
				defer exp.Shutdown(context.Background())
				g.Tracer = otel.NewTracer(exp, otel.AlwaysOn)
			}
			c := &proxy.Call{Session: sess, ID: []byte(`7`), Tool: "echo", Args: []byte(`{"a":1}`), Meta: meta}
			b.ReportAllocs()
			for b.Loop() {
				r := g.Judge(context.Background(), c)
				r.Ticket.Done(proxy.End{Result: []byte(`{"content":[]}`)})
			}
		})
	}
}

// A call's _meta is inspected with the tool's arguments detectors: a key
// is redacted in the _meta forwarded (tracing adds its traceparent to the
// redacted one, not the original), a card number refuses the call, and
// monitor mode records the refusal and lets the call pass.
func TestInspectMeta(t *testing.T) {
	const yaml = "version: \"1\"\ninspect:\n  \"*\":\n    arguments: {card_number: deny, secret: redact}\n"
	g, rec := recordingGate(t, yaml)
	sess := &transport.Session{ID: "s1"}
	judge := func(meta string) proxy.Ruling {
		return g.Judge(context.Background(), &proxy.Call{Session: sess, ID: []byte(`1`), Tool: "lookup", Args: []byte(`{"q":"x"}`), Meta: []byte(meta)})
	}
	r := judge(`{"traceparent":"` + validParent + `","note":"key AKIAIOSFODNN7EXAMPLE"}`)
	if r.Answer != nil || !strings.Contains(string(r.Meta), `"note":"key [REDACTED:aws_access_key]"`) {
		t.Fatalf("a key in _meta: answer %s, meta %s", r.Answer, r.Meta)
	}
	if f := ticketOf(r.Ticket).ev.Findings; len(f) != 1 || f[0] != "redact aws_access_key (secret) at params._meta.note" {
		t.Errorf("findings %q", f)
	}
	for _, clean := range []string{`{"progressToken":1}`, `{"progressToken":"a3f9c2e1-77b0-4b7e-9c55-2f0a1b3c4d5e"}`,
		`{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"}}`} {
		if r := judge(clean); r.Answer != nil || r.Meta != nil {
			t.Errorf("a clean _meta %s: answer %s, meta %s", clean, r.Answer, r.Meta)
		}
	}
	r = judge(`{"note":"card 4111 1111 1111 1111"}`)
	if !strings.Contains(string(r.Answer), "params._meta holds card_number (pii), which the policy's inspect denies") || r.Ticket != nil {
		t.Fatalf("a card number in _meta: %+v", r)
	}
	if ev := rec.evs[len(rec.evs)-1]; ev.Decision != "deny" || ev.Rule != InspectRule || ev.Tool != "lookup" {
		t.Errorf("recorded %+v", ev)
	}

	col := oteltest.NewCollector(t)
	exp := otel.NewExporter(otel.Config{Endpoint: col.URL + "/v1/traces"}, nil)
	g.Tracer = otel.NewTracer(exp, otel.AlwaysOn)
	r = judge(`{"traceparent":"` + validParent + `","note":"key AKIAIOSFODNN7EXAMPLE"}`)
	var m map[string]string
	if err := json.Unmarshal(r.Meta, &m); err != nil || m["note"] != "key [REDACTED:aws_access_key]" || m["traceparent"] == validParent || m["traceparent"] == "" {
		t.Errorf("traced: forwarded _meta %s", r.Meta)
	}
	r.Ticket.Done(proxy.End{Result: []byte(`{}`)})
	g.Tracer = nil
	_ = exp.Shutdown(context.Background())

	mon, err := policy.Load("m.yaml", []byte("version: \"1\"\nmode: monitor\ninspect:\n  \"*\":\n    arguments: {card_number: deny}\n"))
	if err != nil {
		t.Fatal(err)
	}
	g.SetPolicy(mon)
	n := len(rec.evs)
	if r := judge(`{"note":"card 4111 1111 1111 1111"}`); r.Answer != nil || r.Ticket == nil {
		t.Errorf("monitor mode refused the call: %+v", r)
	}
	if len(rec.evs) != n+1 || !rec.evs[n].Monitor || rec.evs[n].Decision != "deny" {
		t.Errorf("monitor mode recorded %+v", rec.evs[n:])
	}
}
