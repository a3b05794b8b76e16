// Package oteltest is for tests only: an OTLP/HTTP collector on 127.0.0.1
// that decodes what Tollgate exports with the OpenTelemetry Collector's own
// OTLP types (pdata), so that a test checks spans as a real OpenTelemetry
// backend reads them. Nothing outside tests imports it.
package oteltest

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Collector receives OTLP/HTTP JSON export requests at /v1/traces.
type Collector struct {
	URL string // base URL: the endpoint is URL + "/v1/traces"

	mu    sync.Mutex
	spans []ptrace.Span
	res   []pcommon.Map
}

// NewCollector starts a collector that stops when the test ends. A request
// that is not a valid OTLP JSON export request fails the test.
func NewCollector(t testing.TB) *Collector {
	t.Helper()
	c := &Collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("collector: got %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
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
			c.res = append(c.res, rs.Resource().Attributes())
			for j := range rs.ScopeSpans().Len() {
				ss := rs.ScopeSpans().At(j).Spans()
				for k := range ss.Len() {
					c.spans = append(c.spans, ss.At(k))
				}
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Spans returns the spans received so far.
func (c *Collector) Spans() []ptrace.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ptrace.Span(nil), c.spans...)
}

// Resources returns the resource attributes of each batch received.
func (c *Collector) Resources() []pcommon.Map {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pcommon.Map(nil), c.res...)
}

// WaitSpans waits until at least n spans have arrived, or fails the test
// after timeout; it returns them.
func (c *Collector) WaitSpans(t testing.TB, n int, timeout time.Duration) []ptrace.Span {
	t.Helper()
	mcptest.Eventually(t, timeout, func() bool { return len(c.Spans()) >= n }, fmt.Sprintf("%d spans at the collector", n))
	return c.Spans()
}

// Attrs returns a span's (or resource's) attributes as plain values.
func Attrs(m pcommon.Map) map[string]any {
	out := map[string]any{}
	m.Range(func(k string, v pcommon.Value) bool {
		out[k] = v.AsRaw()
		return true
	})
	return out
}

// Find returns the spans named name with the given kind.
func Find(spans []ptrace.Span, name string, kind ptrace.SpanKind) []ptrace.Span {
	var out []ptrace.Span
	for _, s := range spans {
		if s.Name() == name && s.Kind() == kind {
			out = append(out, s)
		}
	}
	return out
}
