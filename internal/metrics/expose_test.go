package metrics

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tollgate-mcp/tollgate/internal/event"
)

// parse reads b with Prometheus' own text parser: if it accepts our output,
// so does a Prometheus server.
func parse(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse the exposition: %v\n%s", err, b)
	}
	return fams
}

// tollgateLines returns the lines of b about tollgate_ metrics.
func tollgateLines(b []byte) string {
	var out []string
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "tollgate_") || strings.HasPrefix(line, "# HELP tollgate_") || strings.HasPrefix(line, "# TYPE tollgate_") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}

// TestExposition pins the text of every tollgate_ family: names, help
// texts, types, label names, series order, bucket bounds and escaping, as
// client_golang wrote them before.
func TestExposition(t *testing.T) {
	t0 := time.Unix(1000, 0)
	now := t0.Add(50 * time.Microsecond)
	m := New(Options{Now: func() time.Time { return now }, AuditDropped: func() int64 { return 3 }})
	m.Record(event.Event{Time: t0, Tool: "b", Decision: "deny"})
	m.Record(event.Event{Time: t0, Tool: "a", Decision: "deny"})
	m.Forwarded(event.Event{Time: t0, Tool: "a", Decision: "allow"})
	m.Record(event.Event{Time: t0, Tool: "a", Decision: "allow", Outcome: "ok", Latency: 30 * time.Millisecond})
	m.Record(event.Event{Time: t0, Tool: `q"uo\te` + "\nx", Decision: "deny", Monitor: true})
	m.Record(event.Event{Time: t0, Tool: "bad\xffutf8", Decision: "hidden", StateError: "down"})
	m.Record(event.Event{Time: t0, Tool: "pay", Decision: "approval_expired"})
	m.Reload("ok")

	want := `# HELP tollgate_approval_events_total Steps in the life of approvals: approved, denied, expired, consumed, restored.
# TYPE tollgate_approval_events_total counter
tollgate_approval_events_total{event="expired"} 1
# HELP tollgate_audit_dropped_total Audit lines dropped because the audit buffer was full.
# TYPE tollgate_audit_dropped_total counter
tollgate_audit_dropped_total 3
# HELP tollgate_audit_write_errors_total Failed writes to the audit trail (a full disk, for example).
# TYPE tollgate_audit_write_errors_total counter
tollgate_audit_write_errors_total 0
# HELP tollgate_calls_total ` + helpCalls + `
# TYPE tollgate_calls_total counter
tollgate_calls_total{decision="allow",tool="a"} 1
tollgate_calls_total{decision="deny",tool="a"} 1
tollgate_calls_total{decision="deny",tool="b"} 1
tollgate_calls_total{decision="hidden",tool="bad` + "\uFFFD" + `utf8"} 1
tollgate_calls_total{decision="monitor_deny",tool="q\"uo\\te\nx"} 1
# HELP tollgate_decision_seconds Time to decide a call: policy evaluation and counter reservation.
# TYPE tollgate_decision_seconds histogram
tollgate_decision_seconds_bucket{le="1e-05"} 0
tollgate_decision_seconds_bucket{le="4e-05"} 0
tollgate_decision_seconds_bucket{le="0.00016"} 4
tollgate_decision_seconds_bucket{le="0.00064"} 4
tollgate_decision_seconds_bucket{le="0.00256"} 4
tollgate_decision_seconds_bucket{le="0.01024"} 4
tollgate_decision_seconds_bucket{le="0.04096"} 4
tollgate_decision_seconds_bucket{le="0.16384"} 4
tollgate_decision_seconds_bucket{le="0.65536"} 4
tollgate_decision_seconds_bucket{le="2.62144"} 4
tollgate_decision_seconds_bucket{le="+Inf"} 4
tollgate_decision_seconds_sum 0.0002
tollgate_decision_seconds_count 4
# HELP tollgate_inflight_calls Calls forwarded to the server and not yet answered.
# TYPE tollgate_inflight_calls gauge
tollgate_inflight_calls 0
# HELP tollgate_reloads_total Policy reload attempts by result (ok, invalid, rejected, error).
# TYPE tollgate_reloads_total counter
tollgate_reloads_total{result="error"} 0
tollgate_reloads_total{result="invalid"} 0
tollgate_reloads_total{result="ok"} 1
tollgate_reloads_total{result="rejected"} 0
# HELP tollgate_state_errors_total Calls for which the state store failed (denied when fail-closed, allowed when fail-open).
# TYPE tollgate_state_errors_total counter
tollgate_state_errors_total 1
# HELP tollgate_upstream_seconds Time from the start of a forwarded call's decision to the server's response.
# TYPE tollgate_upstream_seconds histogram
tollgate_upstream_seconds_bucket{le="0.005"} 0
tollgate_upstream_seconds_bucket{le="0.01"} 0
tollgate_upstream_seconds_bucket{le="0.025"} 0
tollgate_upstream_seconds_bucket{le="0.05"} 1
tollgate_upstream_seconds_bucket{le="0.1"} 1
tollgate_upstream_seconds_bucket{le="0.25"} 1
tollgate_upstream_seconds_bucket{le="0.5"} 1
tollgate_upstream_seconds_bucket{le="1"} 1
tollgate_upstream_seconds_bucket{le="2.5"} 1
tollgate_upstream_seconds_bucket{le="5"} 1
tollgate_upstream_seconds_bucket{le="10"} 1
tollgate_upstream_seconds_bucket{le="+Inf"} 1
tollgate_upstream_seconds_sum 0.03
tollgate_upstream_seconds_count 1
`
	b := m.AppendText(nil)
	if diff := cmp.Diff(want, tollgateLines(b)); diff != "" {
		t.Errorf("exposition (-want +got):\n%s", diff)
	}
	// The escaped label values read back as the tool names they stand for.
	fams := parse(t, b)
	if got := value(t, fams, "tollgate_calls_total", "tool", "q\"uo\\te\nx", "decision", "monitor_deny"); got != 1 {
		t.Errorf("escaped tool = %v, want 1", got)
	}
}

// TestFamiliesSortedAndUnique checks the whole exposition, the runtime and
// process families included: names in order, each once, every sample under
// its own family's TYPE, and no series twice.
func TestFamiliesSortedAndUnique(t *testing.T) {
	m := New(Options{})
	// Names that differ as bytes but not as label values must share one
	// series: two series with the same labels make a scrape fail.
	for _, tool := range []string{"x\xff", "x\xfe", "x\uFFFD", "dup", "dup"} {
		m.Record(event.Event{Tool: tool, Decision: "deny", Time: time.Now()})
	}
	b := m.AppendText(nil)
	var names []string
	series := map[string]bool{}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(rest)[0])
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		key := line[:strings.LastIndexByte(line, ' ')]
		if series[key] {
			t.Errorf("series twice: %s", key)
		}
		series[key] = true
		fam := names[len(names)-1]
		if !strings.HasPrefix(key, fam) {
			t.Errorf("sample %s under the TYPE of %s", key, fam)
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("families not sorted or repeated: %v", names)
	}
	fams := parse(t, b)
	if got := value(t, fams, "tollgate_calls_total", "tool", "x\uFFFD"); got != 3 {
		t.Errorf("x\\uFFFD = %v, want 3 (three names with one label value)", got)
	}
	wantTypes := map[string]dto.MetricType{
		"go_goroutines":                 dto.MetricType_GAUGE,
		"go_memstats_heap_alloc_bytes":  dto.MetricType_GAUGE,
		"process_cpu_seconds_total":     dto.MetricType_COUNTER,
		"process_resident_memory_bytes": dto.MetricType_GAUGE,
		"process_start_time_seconds":    dto.MetricType_GAUGE,
	}
	for name, typ := range wantTypes {
		f := fams[name]
		if f == nil {
			t.Errorf("no %s", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
		}
	}
}

// TestLongToolNames: an agent's made-up names of any length cannot make
// the metrics hold them.
func TestLongToolNames(t *testing.T) {
	m := New(Options{})
	long := strings.Repeat("a", MaxToolBytes+1)
	for i := range 3 {
		m.Record(event.Event{Tool: long + fmt.Sprint(i), Decision: "deny", Time: time.Now()})
	}
	m.Record(event.Event{Tool: long[:MaxToolBytes], Decision: "deny", Time: time.Now()})
	b := m.AppendText(nil)
	if bytes.Contains(b, []byte(long)) {
		t.Error("a tool name longer than MaxToolBytes is in the exposition")
	}
	fams := parse(t, b)
	if got := value(t, fams, "tollgate_calls_total", "tool", "_other"); got != 3 {
		t.Errorf("_other = %v, want 3", got)
	}
	if got := value(t, fams, "tollgate_calls_total", "tool", long[:MaxToolBytes]); got != 1 {
		t.Errorf("a name of MaxToolBytes = %v, want 1", got)
	}
}

// TestConcurrentRecordAndScrape records from many goroutines while
// scraping, then checks that nothing was lost and that every scrape was
// consistent: each histogram's +Inf bucket equals its count.
func TestConcurrentRecordAndScrape(t *testing.T) {
	m := New(Options{})
	const workers, per = 8, 500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	scrapes := make(chan []byte, 1)
	go func() {
		var last []byte
		defer func() { scrapes <- last }()
		for {
			select {
			case <-stop:
				return
			default:
				last = m.AppendText(nil)
			}
		}
	}()
	for w := range workers {
		wg.Go(func() {
			for i := range per {
				ev := event.Event{Tool: fmt.Sprint("t", (w*per+i)%700), Decision: "allow", Time: time.Now()}
				m.Forwarded(ev)
				ev.Outcome, ev.Latency = "ok", time.Millisecond
				m.Record(ev)
			}
		})
	}
	wg.Wait()
	close(stop)
	mid := parse(t, <-scrapes)
	fams := parse(t, m.AppendText(nil))
	for _, fs := range []map[string]*dto.MetricFamily{mid, fams} {
		for _, name := range []string{"tollgate_decision_seconds", "tollgate_upstream_seconds"} {
			h := fs[name].Metric[0].Histogram
			bs := h.Bucket
			if len(bs) > 0 && bs[len(bs)-1].GetCumulativeCount() > h.GetSampleCount() {
				t.Errorf("%s: last bucket %d above the count %d", name, bs[len(bs)-1].GetCumulativeCount(), h.GetSampleCount())
			}
		}
	}
	var total float64
	for _, s := range fams["tollgate_calls_total"].Metric {
		total += s.Counter.GetValue()
	}
	if total != workers*per {
		t.Errorf("calls counted = %v, want %d", total, workers*per)
	}
	if got := value(t, fams, "tollgate_upstream_seconds"); got != workers*per {
		t.Errorf("upstream observations = %v, want %d", got, workers*per)
	}
	if got := value(t, fams, "tollgate_inflight_calls"); got != 0 {
		t.Errorf("in flight = %v, want 0", got)
	}
	if n := len(fams["tollgate_calls_total"].Metric); n != MaxTools+1 {
		t.Errorf("%d series, want %d", n, MaxTools+1)
	}
}

func TestHandler(t *testing.T) {
	m := New(Options{})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if got := expfmt.ResponseFormat(rec.Header()); got.FormatType() != expfmt.TypeTextPlain {
		t.Errorf("Prometheus reads the answer as %v", got)
	}
	parse(t, rec.Body.Bytes())
	rec = httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/metrics", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", rec.Code)
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name may hold spaces and parentheses.
	line := "4242 (a) (b c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 123456 1318072320 4827 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	got, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if want := (procStat{cpuSeconds: 3, startTicks: 123456, rssPages: 4827}); got != want {
		t.Errorf("parseProcStat = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "1 (x", "1 (x) S 1 2", "1 (x) S 1 4242 4242 0 -1 4194560 100 0 0 0 nan 50"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) did not fail", bad)
		}
	}
	bt, err := parseBootTime([]byte("cpu  1 2 3\nintr 5\nbtime 1796461330\nprocesses 9\n"))
	if err != nil || bt != 1796461330 {
		t.Errorf("parseBootTime = %d, %v", bt, err)
	}
	if _, err := parseBootTime([]byte("cpu 1\n")); err == nil {
		t.Error("parseBootTime without btime did not fail")
	}
}

func TestProcessMetrics(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	fams := parse(t, New(Options{}).AppendText(nil))
	if rss := value(t, fams, "process_resident_memory_bytes"); rss < 1<<20 || rss > 1<<40 {
		t.Errorf("resident memory %v", rss)
	}
	start := time.Unix(int64(value(t, fams, "process_start_time_seconds")), 0)
	if d := time.Since(start); d < -2*time.Second || d > time.Hour {
		t.Errorf("process started %v ago", d)
	}
	if cpu := value(t, fams, "process_cpu_seconds_total"); cpu < 0 {
		t.Errorf("cpu %v", cpu)
	}
	if g := value(t, fams, "go_goroutines"); g < 1 {
		t.Errorf("goroutines %v", g)
	}
	if h := value(t, fams, "go_memstats_heap_alloc_bytes"); h <= 0 {
		t.Errorf("heap %v", h)
	}
}

// TestBinaryLinksNoPrometheus: the Prometheus client and protobuf are for
// tests only; the tollgate binary writes the format itself.
func TestBinaryLinksNoPrometheus(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/tollgate-mcp/tollgate/cmd/tollgate").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/tollgate-mcp/tollgate/internal/metrics") {
		t.Fatal("go list does not show internal/metrics among the binary's packages")
	}
	for pkg := range strings.Lines(string(out)) {
		if strings.Contains(pkg, "prometheus") || strings.Contains(pkg, "protobuf") {
			t.Errorf("the binary links %s", strings.TrimSpace(pkg))
		}
	}
}
