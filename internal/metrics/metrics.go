// Package metrics exposes Tollgate's Prometheus metrics. A *Metrics is a
// event.Recorder (and event.ForwardRecorder) fed the same decision events as
// the audit trail; Serve puts its registry on an HTTP listener at /metrics.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tollgate-mcp/tollgate/internal/event"
)

// MaxTools caps the distinct tool label values: tool names come from the
// agent, and an agent calling endless made-up names must not grow the
// registry without bound. Further tools are counted as "_other".
const MaxTools = 512

// Options configure a Metrics.
type Options struct {
	// AuditDropped and AuditWriteErrors read the audit log's counters at
	// scrape time; nil reports 0.
	AuditDropped     func() int64
	AuditWriteErrors func() int64
	// Now is the clock the gate uses for Event.Time; nil means time.Now.
	Now func() time.Time
}

// Metrics holds Tollgate's collectors. Its methods are safe for concurrent
// use and do not block.
type Metrics struct {
	reg         *prometheus.Registry
	calls       *prometheus.CounterVec
	decision    prometheus.Histogram
	upstream    prometheus.Histogram
	inflight    prometheus.Gauge
	stateErrors prometheus.Counter
	reloads     *prometheus.CounterVec
	approvals   *prometheus.CounterVec
	now         func() time.Time

	mu       sync.RWMutex
	children map[childKey]prometheus.Counter
	tools    map[string]bool
}

type childKey struct{ tool, decision string }

var (
	_ event.Recorder        = (*Metrics)(nil)
	_ event.ForwardRecorder = (*Metrics)(nil)
)

// New registers Tollgate's metrics (and the Go and process collectors) in
// a new registry.
func New(opts Options) *Metrics {
	m := &Metrics{
		reg:      prometheus.NewRegistry(),
		now:      opts.Now,
		children: map[childKey]prometheus.Counter{},
		tools:    map[string]bool{},
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_calls_total",
			Help: "Tool calls by tool and decision (allow, deny, approval_required, approval_requested, approval_reused; hidden: a call answered as for an unknown tool; invalid: a message refused as malformed or ambiguous, or a tools/call without an id, dropped; monitor_deny, monitor_approval_required and monitor_hidden count what monitor mode let through, and those calls count again as allow).",
		}, []string{"tool", "decision"}),
		decision: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tollgate_decision_seconds",
			Help:    "Time to decide a call: policy evaluation and counter reservation.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 10),
		}),
		upstream: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tollgate_upstream_seconds",
			Help:    "Time from the start of a forwarded call's decision to the server's response.",
			Buckets: prometheus.DefBuckets,
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tollgate_inflight_calls",
			Help: "Calls forwarded to the server and not yet answered.",
		}),
		stateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tollgate_state_errors_total",
			Help: "Calls for which the state store failed (denied when fail-closed, allowed when fail-open).",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_reloads_total",
			Help: "Policy reload attempts by result (ok, invalid, rejected, error).",
		}, []string{"result"}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tollgate_approval_events_total",
			Help: "Steps in the life of approvals: approved, denied, expired, consumed, restored.",
		}, []string{"event"}),
	}
	if m.now == nil {
		m.now = time.Now
	}
	m.reg.MustRegister(m.calls, m.decision, m.upstream, m.inflight, m.stateErrors, m.reloads, m.approvals,
		counterFunc("tollgate_audit_dropped_total", "Audit lines dropped because the audit buffer was full.", opts.AuditDropped),
		counterFunc("tollgate_audit_write_errors_total", "Failed writes to the audit trail (a full disk, for example).", opts.AuditWriteErrors),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, r := range []string{"ok", "invalid", "rejected", "error"} {
		m.reloads.WithLabelValues(r)
	}
	return m
}

func counterFunc(name, help string, f func() int64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 {
		if f == nil {
			return 0
		}
		return float64(f())
	})
}

// Registry returns the registry the metrics live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Forwarded implements event.ForwardRecorder.
func (m *Metrics) Forwarded(ev event.Event) {
	m.inflight.Inc()
	m.decision.Observe(m.since(ev.Time))
}

// Record implements event.Recorder.
func (m *Metrics) Record(ev event.Event) {
	if ev.StateError != "" {
		m.stateErrors.Inc()
	}
	decision := string(ev.Decision)
	switch decision {
	case "approval_approved", "approval_denied", "approval_expired", "approval_consumed", "approval_restored":
		// Steps of an approval, not answers to a call.
		m.approvals.WithLabelValues(strings.TrimPrefix(decision, "approval_")).Inc()
		return
	}
	if ev.Monitor {
		decision = monitorLabel(decision)
	}
	m.counter(ev.Tool, decision).Inc()
	if ev.Outcome != "" {
		// A forwarded call completed.
		m.inflight.Dec()
		m.upstream.Observe(ev.Latency.Seconds())
		return
	}
	if !ev.Monitor {
		// Answered without forwarding: the decision is the whole call.
		m.decision.Observe(m.since(ev.Time))
	}
}

func monitorLabel(decision string) string {
	switch decision {
	case "deny":
		return "monitor_deny"
	case "approval_required":
		return "monitor_approval_required"
	}
	return "monitor_" + decision
}

// Reload counts a reload attempt.
func (m *Metrics) Reload(result string) { m.reloads.WithLabelValues(result).Inc() }

func (m *Metrics) since(t time.Time) float64 {
	d := m.now().Sub(t).Seconds()
	return max(d, 0)
}

// counter returns the cached child for tool and decision. The lookup takes
// a read lock and does not allocate.
func (m *Metrics) counter(tool, decision string) prometheus.Counter {
	m.mu.RLock()
	c, ok := m.children[childKey{tool, decision}]
	m.mu.RUnlock()
	if ok {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.tools[tool] {
		if len(m.tools) >= MaxTools {
			tool = "_other"
		} else {
			m.tools[tool] = true
		}
	}
	k := childKey{tool, decision}
	if c, ok := m.children[k]; ok {
		return c
	}
	c = m.calls.WithLabelValues(tool, decision)
	m.children[k] = c
	return c
}

// Server serves /metrics over HTTP.
type Server struct {
	ln   net.Listener
	srv  *http.Server
	done chan struct{}
	once sync.Once
	err  error
}

// Serve listens on addr (host:port; port 0 picks a free one) and serves h at
// /metrics until Close. The listener is open when Serve returns.
func Serve(addr string, h http.Handler, logger *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("serve metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	s := &Server{ln: ln, done: make(chan struct{}), srv: &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
	}}
	if logger != nil {
		s.srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && logger != nil {
			logger.Error("metrics server stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, waiting up to two seconds for scrapes in
// progress. It may be called more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.err = s.srv.Shutdown(ctx)
		<-s.done
	})
	return s.err
}
