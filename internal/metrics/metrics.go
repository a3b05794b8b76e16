// Package metrics exposes Tollgate's Prometheus metrics. A *Metrics is a
// event.Recorder (and event.ForwardRecorder) fed the same decision events as
// the audit trail; Handler writes them in the Prometheus text format
// (expose.go) and Serve puts that on an HTTP listener at /metrics.
package metrics

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tollgate-mcp/tollgate/internal/event"
)

// MaxTools caps the distinct tool label values: tool names come from the
// agent, and an agent calling endless made-up names must not grow the
// metrics without bound. Further tools are counted as "_other".
const MaxTools = 512

// MaxToolBytes caps the length of a tool label value: a longer name (MCP
// tool names are at most 128 characters) is counted as "_other", so that
// 512 made-up names of a megabyte each cannot hold half a gigabyte.
const MaxToolBytes = 256

// otherTool is the tool label of calls beyond MaxTools or MaxToolBytes.
const otherTool = "_other"

var errBadStat = errors.New("read /proc/self/stat: unexpected format")

// Options configure a Metrics.
type Options struct {
	// AuditDropped and AuditWriteErrors read the audit log's counters at
	// scrape time; nil reports 0.
	AuditDropped     func() int64
	AuditWriteErrors func() int64
	// Now is the clock the gate uses for Event.Time; nil means time.Now.
	Now func() time.Time
}

// Metrics holds Tollgate's metrics. Its methods are safe for concurrent use
// and do not block.
type Metrics struct {
	opts        Options
	now         func() time.Time
	decision    *histogram
	upstream    *histogram
	inflight    atomic.Int64
	stateErrors counter
	reloads     labeled
	approvals   labeled

	serversMu sync.Mutex
	serverUp  map[string]int64 // tollgate gateway: 1 up, 0 down, by server name

	mu    sync.RWMutex
	calls map[callKey]*counter // by label values
	tools map[string]bool      // the tool label values given out, at most MaxTools
}

type callKey struct{ tool, decision string }

var (
	_ event.Recorder        = (*Metrics)(nil)
	_ event.ForwardRecorder = (*Metrics)(nil)
)

// Help texts, as they were when these metrics came from client_golang.
const (
	helpCalls       = "Tool calls by tool and decision (allow, deny, approval_required, approval_requested, approval_reused; hidden: a call answered as for an unknown tool; invalid: a message refused as malformed or ambiguous, or a tools/call without an id, dropped; monitor_deny, monitor_approval_required and monitor_hidden count what monitor mode let through, and those calls count again as allow)."
	helpDecision    = "Time to decide a call: policy evaluation and counter reservation."
	helpUpstream    = "Time from the start of a forwarded call's decision to the server's response."
	helpInflight    = "Calls forwarded to the server and not yet answered."
	helpStateErrors = "Calls for which the state store failed (denied when fail-closed, allowed when fail-open)."
	helpReloads     = "Policy reload attempts by result (ok, invalid, rejected, error)."
	helpApprovals   = "Steps in the life of approvals: approved, denied, expired, consumed, restored."
	helpDropped     = "Audit lines dropped because the audit buffer was full."
	helpWriteErrors = "Failed writes to the audit trail (a full disk, for example)."
	helpServerUp    = "tollgate gateway: 1 when the server named by the label last came up, 0 when it last went down (failed to start or ended)."
)

// New returns a Metrics with every counter at zero.
func New(opts Options) *Metrics {
	m := &Metrics{
		opts:      opts,
		now:       opts.Now,
		decision:  newHistogram(exponentialBuckets(10e-6, 4, 10)),
		upstream:  newHistogram(defBuckets),
		reloads:   labeled{m: map[string]*counter{}},
		approvals: labeled{m: map[string]*counter{}},
		calls:     map[callKey]*counter{},
		tools:     map[string]bool{},
	}
	if m.now == nil {
		m.now = time.Now
	}
	for _, r := range []string{"ok", "invalid", "rejected", "error"} {
		m.reloads.get(r)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		b := m.AppendText(nil)
		w.Header().Set("Content-Type", contentType)
		w.Write(b)
	})
}

// AppendText appends every metric to b in the Prometheus text format
// (version 0.0.4), families in name order and series in label order.
func (m *Metrics) AppendText(b []byte) []byte {
	w := &textWriter{b: b}
	writeRuntime(w)
	writeProcess(w)
	m.approvals.write(w, "tollgate_approval_events_total", helpApprovals, "event")
	counterFunc(w, "tollgate_audit_dropped_total", helpDropped, m.opts.AuditDropped)
	counterFunc(w, "tollgate_audit_write_errors_total", helpWriteErrors, m.opts.AuditWriteErrors)
	m.writeCalls(w)
	w.histogram("tollgate_decision_seconds", helpDecision, m.decision)
	m.writeServers(w)
	w.family("tollgate_inflight_calls", helpInflight, "gauge")
	w.int("tollgate_inflight_calls", m.inflight.Load())
	m.reloads.write(w, "tollgate_reloads_total", helpReloads, "result")
	w.family("tollgate_state_errors_total", helpStateErrors, "counter")
	w.uint("tollgate_state_errors_total", m.stateErrors.n.Load())
	w.histogram("tollgate_upstream_seconds", helpUpstream, m.upstream)
	return w.b
}

// ServerState records that a server behind tollgate gateway came up or went
// down (err says why). Server names come from the gateway file, not from
// the agent, so the label values are bounded.
func (m *Metrics) ServerState(server string, up bool, _ error) {
	var v int64
	if up {
		v = 1
	}
	m.serversMu.Lock()
	if m.serverUp == nil {
		m.serverUp = map[string]int64{}
	}
	m.serverUp[server] = v
	m.serversMu.Unlock()
}

func (m *Metrics) writeServers(w *textWriter) {
	m.serversMu.Lock()
	names := make([]string, 0, len(m.serverUp))
	vals := make(map[string]int64, len(m.serverUp))
	for k, v := range m.serverUp {
		names = append(names, k)
		vals[k] = v
	}
	m.serversMu.Unlock()
	if len(names) == 0 {
		return // not a gateway, or no server reported yet
	}
	slices.Sort(names)
	w.family("tollgate_gateway_server_up", helpServerUp, "gauge")
	for _, n := range names {
		w.int("tollgate_gateway_server_up", vals[n], "server", n)
	}
}

// counterFunc writes a counter read from f at scrape time; nil f reads 0.
func counterFunc(w *textWriter, name, help string, f func() int64) {
	var v int64
	if f != nil {
		v = f()
	}
	w.family(name, help, "counter")
	w.int(name, v)
}

func (m *Metrics) writeCalls(w *textWriter) {
	m.mu.RLock()
	keys := make([]callKey, 0, len(m.calls))
	vals := make(map[callKey]uint64, len(m.calls))
	for k, c := range m.calls {
		keys = append(keys, k)
		vals[k] = c.n.Load()
	}
	m.mu.RUnlock()
	if len(keys) == 0 {
		return // as client_golang: a vector without series is left out
	}
	// Labels in name order (decision, tool), series in that order too.
	slices.SortFunc(keys, func(a, b callKey) int {
		if c := strings.Compare(a.decision, b.decision); c != 0 {
			return c
		}
		return strings.Compare(a.tool, b.tool)
	})
	w.family("tollgate_calls_total", helpCalls, "counter")
	for _, k := range keys {
		w.uint("tollgate_calls_total", vals[k], "decision", k.decision, "tool", k.tool)
	}
}

// Forwarded implements event.ForwardRecorder.
func (m *Metrics) Forwarded(ev event.Event) {
	m.inflight.Add(1)
	m.decision.observe(m.since(ev.Time))
}

// Record implements event.Recorder.
func (m *Metrics) Record(ev event.Event) {
	if ev.StateError != "" {
		m.stateErrors.inc()
	}
	decision := string(ev.Decision)
	switch decision {
	case "approval_approved", "approval_denied", "approval_expired", "approval_consumed", "approval_restored":
		// Steps of an approval, not answers to a call.
		m.approvals.get(strings.TrimPrefix(decision, "approval_")).inc()
		return
	}
	if ev.Monitor {
		decision = monitorLabel(decision)
	}
	m.counter(ev.Tool, decision).inc()
	if ev.Outcome != "" {
		// A forwarded call completed.
		m.inflight.Add(-1)
		m.upstream.observe(ev.Latency.Seconds())
		return
	}
	if !ev.Monitor {
		// Answered without forwarding: the decision is the whole call.
		m.decision.observe(m.since(ev.Time))
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
func (m *Metrics) Reload(result string) { m.reloads.get(result).inc() }

func (m *Metrics) since(t time.Time) float64 {
	d := m.now().Sub(t).Seconds()
	return max(d, 0)
}

// counter returns the counter of tool and decision. For a tool seen before
// (or once MaxTools are taken) the lookup takes a read lock and does not
// allocate.
func (m *Metrics) counter(tool, decision string) *counter {
	if len(tool) > MaxToolBytes {
		tool = otherTool
	} else if !utf8.ValidString(tool) {
		tool = labelValue(tool)
	}
	m.mu.RLock()
	c := m.calls[callKey{tool, decision}]
	if c == nil && len(m.tools) >= MaxTools && !m.tools[tool] {
		c = m.calls[callKey{otherTool, decision}]
	}
	m.mu.RUnlock()
	if c != nil {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.tools[tool] {
		if len(m.tools) >= MaxTools {
			tool = otherTool
		} else {
			m.tools[tool] = true
		}
	}
	k := callKey{tool, decision}
	if c = m.calls[k]; c == nil {
		c = new(counter)
		m.calls[k] = c
	}
	return c
}

// labeled is a counter vector with one label whose values come from
// Tollgate itself (reload results, approval steps), not from the agent:
// a few, all valid UTF-8.
type labeled struct {
	mu sync.RWMutex
	m  map[string]*counter
}

func (l *labeled) get(v string) *counter {
	l.mu.RLock()
	c := l.m[v]
	l.mu.RUnlock()
	if c != nil {
		return c
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c = l.m[v]; c == nil {
		c = new(counter)
		l.m[v] = c
	}
	return c
}

func (l *labeled) write(w *textWriter, name, help, label string) {
	l.mu.RLock()
	keys := make([]string, 0, len(l.m))
	vals := make(map[string]uint64, len(l.m))
	for k, c := range l.m {
		keys = append(keys, k)
		vals[k] = c.n.Load()
	}
	l.mu.RUnlock()
	if len(keys) == 0 {
		return
	}
	slices.Sort(keys)
	w.family(name, help, "counter")
	for _, k := range keys {
		w.uint(name, vals[k], label, k)
	}
}
