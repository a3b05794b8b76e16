package otel

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// collector is an OTLP/HTTP receiver on 127.0.0.1 that decodes what it is
// sent with the OpenTelemetry Collector's own OTLP types.
type collector struct {
	srv *httptest.Server

	mu      sync.Mutex
	spans   []ptrace.Span
	service []string
	headers []http.Header
	got     chan struct{}
	status  int
}

func newCollector(t *testing.T) *collector {
	t.Helper()
	c := &collector{got: make(chan struct{}, 100), status: http.StatusOK}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("collector got %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		req := ptraceotlp.NewExportRequest()
		if err := req.UnmarshalJSON(body); err != nil {
			t.Errorf("collector: not an OTLP JSON export request: %v\n%s", err, body)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		rss := req.Traces().ResourceSpans()
		for i := range rss.Len() {
			rs := rss.At(i)
			name, _ := rs.Resource().Attributes().Get("service.name")
			c.service = append(c.service, name.Str())
			for j := range rs.ScopeSpans().Len() {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := range ss.Len() {
					c.spans = append(c.spans, ss.At(k))
				}
			}
		}
		c.headers = append(c.headers, r.Header.Clone())
		status := c.status
		c.mu.Unlock()
		w.WriteHeader(status)
		c.got <- struct{}{}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) snapshot() []ptrace.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ptrace.Span(nil), c.spans...)
}

func attrs(m pcommon.Map) map[string]any {
	out := map[string]any{}
	m.Range(func(k string, v pcommon.Value) bool {
		out[k] = v.AsRaw()
		return true
	})
	return out
}

func TestExporterSendsValidOTLP(t *testing.T) {
	c := newCollector(t)
	cfg, on, err := FromEnv(lookup(map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=s%20cret",
		"OTEL_SERVICE_NAME":          "gate-7",
	}), c.srv.URL)
	if err != nil || !on {
		t.Fatalf("FromEnv: %v %v", on, err)
	}
	exp := NewExporter(cfg, nil)
	tr := NewTracer(exp, AlwaysOn)
	start := time.Unix(1700000000, 5)
	tr.Now = func() time.Time { return start }

	parent, _ := ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	parent.State = "rojo=1"
	srv := tr.Start(parent, "tools/call echo", KindServer, String("mcp.method.name", "tools/call"), Int("n", 42), Bool("b", true))
	child := srv.Child("tollgate.decide", KindInternal)
	child.SetAttr(String("tollgate.decision", "deny"), String("quote\"d", "line\nbreak <&>"))
	child.SetStatus(StatusError, "denied")
	child.End()
	srv.SetStatus(StatusOK, "ignored")
	srv.End()
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}

	got := c.snapshot()
	if len(got) != 2 {
		t.Fatalf("collector got %d spans, want 2", len(got))
	}
	d, s := got[0], got[1]
	if s.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s.ParentSpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("server span trace %s parent %s", s.TraceID(), s.ParentSpanID())
	}
	if s.SpanID().String() != srv.Context().SpanID.String() || s.TraceState().AsRaw() != "rojo=1" {
		t.Errorf("server span id %s state %q", s.SpanID(), s.TraceState().AsRaw())
	}
	if d.TraceID() != s.TraceID() || d.ParentSpanID() != s.SpanID() {
		t.Errorf("child span trace %s parent %s, want %s %s", d.TraceID(), d.ParentSpanID(), s.TraceID(), s.SpanID())
	}
	if s.Kind() != ptrace.SpanKindServer || d.Kind() != ptrace.SpanKindInternal || s.Name() != "tools/call echo" {
		t.Errorf("kinds %v %v, name %q", s.Kind(), d.Kind(), s.Name())
	}
	if !s.StartTimestamp().AsTime().Equal(start) || !s.EndTimestamp().AsTime().Equal(start) {
		t.Errorf("times %v %v", s.StartTimestamp().AsTime(), s.EndTimestamp().AsTime())
	}
	if s.Flags() != 0x301 || d.Flags() != 0x101 {
		t.Errorf("flags %#x %#x (sampled; parent remote for the server span only)", s.Flags(), d.Flags())
	}
	if diff := cmp.Diff(map[string]any{"mcp.method.name": "tools/call", "n": int64(42), "b": true}, attrs(s.Attributes())); diff != "" {
		t.Errorf("server attributes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"tollgate.decision": "deny", "quote\"d": "line\nbreak <&>"}, attrs(d.Attributes())); diff != "" {
		t.Errorf("child attributes (-want +got):\n%s", diff)
	}
	if d.Status().Code() != ptrace.StatusCodeError || d.Status().Message() != "denied" || s.Status().Code() != ptrace.StatusCodeOk || s.Status().Message() != "" {
		t.Errorf("status %v %q / %v %q", d.Status().Code(), d.Status().Message(), s.Status().Code(), s.Status().Message())
	}
	if c.service[0] != "gate-7" || c.headers[0].Get("X-Api-Key") != "s cret" {
		t.Errorf("service %v, header %q", c.service, c.headers[0].Get("X-Api-Key"))
	}
}

func TestExporterBatchesAndDrops(t *testing.T) {
	c := newCollector(t)
	exp := NewExporter(Config{Endpoint: c.srv.URL + "/v1/traces", QueueSize: 4, BatchSize: 2, Delay: time.Hour}, nil)
	tr := NewTracer(exp, AlwaysOn)
	// Two full batches go out without waiting for the (hour-long) delay.
	for range 4 {
		tr.Start(SpanContext{}, "s", KindInternal).End()
	}
	for range 2 {
		select {
		case <-c.got:
		case <-time.After(10 * time.Second):
			t.Fatal("full batches were not sent")
		}
	}
	// Not sampled: made, propagated, never exported.
	off := NewTracer(exp, Sampler{Ratio: 0})
	sp := off.Start(SpanContext{}, "unsampled", KindInternal)
	if sp.Recording() || !sp.Context().IsValid() || sp.Context().Sampled() {
		t.Errorf("unsampled span context %+v", sp.Context())
	}
	sp.End()
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := exp.Stats(); st.Exported != 4 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
	tr.Start(SpanContext{}, "late", KindInternal).End()
	if st := exp.Stats(); st.Dropped != 1 {
		t.Errorf("a span ended after shutdown: stats %+v", st)
	}
}

// An unreachable or stalled collector never makes End wait: the queue
// fills, later spans are dropped and counted, and Shutdown returns when
// its context ends.
func TestExporterStalledCollector(t *testing.T) {
	release := make(chan struct{})
	stalled := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer stalled.Close()
	defer close(release)
	exp := NewExporter(Config{Endpoint: stalled.URL + "/v1/traces", QueueSize: 8, BatchSize: 1, Delay: time.Hour, Timeout: time.Minute}, nil)
	tr := NewTracer(exp, AlwaysOn)
	for range 1000 {
		tr.Start(SpanContext{}, "s", KindInternal).End()
	}
	if st := exp.Stats(); st.Dropped < 1000-8-1 {
		t.Errorf("stats %+v: a full queue must drop", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := exp.Shutdown(ctx); err == nil || !strings.Contains(err.Error(), "shut down the span exporter") {
		t.Errorf("Shutdown past its deadline: %v", err)
	}
	if st := exp.Stats(); st.Exported != 0 || st.Failed == 0 {
		t.Errorf("stats after an abandoned shutdown %+v", st)
	}
}

func TestExporterRetriesThenGivesUp(t *testing.T) {
	c := newCollector(t)
	c.status = http.StatusServiceUnavailable
	exp := NewExporter(Config{Endpoint: c.srv.URL + "/v1/traces", Delay: time.Hour}, nil)
	NewTracer(exp, AlwaysOn).Start(SpanContext{}, "s", KindInternal).End()
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(c.snapshot()); n != 3 {
		t.Errorf("collector saw %d attempts, want 3 (a 503 is retried twice)", n)
	}
	if st := exp.Stats(); st.Failed != 1 || st.Exported != 0 {
		t.Errorf("stats %+v", st)
	}
}

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}
