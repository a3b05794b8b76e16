package metrics

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

const testPolicy = `version: "1"
hide: [secret]
tools:
  echo:
    rules: []
  limited:
    rules:
      - name: one a minute
        rate_limit: 1/minute
  forbidden:
    rules:
      - name: never
        action: deny
  watched:
    rules:
      - name: would deny
        action: deny
        mode: monitor
`

func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the value of the sample of family name whose labels match.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range f.Metric {
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.Label {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	t.Fatalf("no sample %s%v", name, labels)
	return 0
}

type failingStore struct{ state.Store }

func (failingStore) Reserve(context.Context, time.Time, []state.Charge) (state.Result, error) {
	return state.Result{}, errors.New("connection refused")
}

func call(g *gate.Gate, tool string) proxy.Ticket {
	r := g.Judge(context.Background(), &proxy.Call{Session: &transport.Session{ID: "s"}, ID: []byte("1"), Tool: tool, Args: []byte("{}")})
	return r.Ticket
}

func TestMetricsOverHTTP(t *testing.T) {
	p, err := policy.Load("p.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	m := New(Options{AuditDropped: func() int64 { return 7 }, AuditWriteErrors: func() int64 { return 2 }})
	g := gate.New(p)
	g.Store = memstore.New()
	g.Recorder = m
	srv, err := Serve("127.0.0.1:0", m.Handler(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	held := call(g, "echo") // in flight until Done
	for range 3 {
		call(g, "echo").Done(proxy.End{Result: []byte(`{"content":[]}`)})
	}
	call(g, "limited").Done(proxy.End{Result: []byte(`{}`)})
	if tk := call(g, "limited"); tk != nil {
		t.Fatal("the second limited call was let through")
	}
	call(g, "forbidden")
	if r := g.Judge(context.Background(), &proxy.Call{Session: &transport.Session{ID: "s"}, ID: []byte("2"), Tool: "secret", Args: []byte("{}")}); !r.Unknown {
		t.Fatal("a hidden tool was not answered as unknown")
	}
	g.Refused(&transport.Session{ID: "s"}, nil, "rejected a message from the client: parse error")
	g.Refused(&transport.Session{ID: "s"}, &proxy.Call{Tool: "forbidden", Args: []byte("{}")}, "dropped a tools/call sent as a notification")
	call(g, "watched").Done(proxy.End{Result: []byte(`{}`)})
	g.Store = failingStore{}
	call(g, "limited")
	m.Reload("ok")
	m.Reload("invalid")
	m.Record(event.Event{Time: time.Now(), Tool: "pay", Decision: "approval_approved", ApprovalID: "a1"})

	fams := scrape(t, srv.Addr())
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tollgate_calls_total", []string{"tool", "echo", "decision", "allow"}, 3},
		{"tollgate_calls_total", []string{"tool", "limited", "decision", "allow"}, 1},
		{"tollgate_calls_total", []string{"tool", "limited", "decision", "deny"}, 2},
		{"tollgate_calls_total", []string{"tool", "forbidden", "decision", "deny"}, 1},
		{"tollgate_calls_total", []string{"tool", "watched", "decision", "monitor_deny"}, 1},
		{"tollgate_calls_total", []string{"tool", "watched", "decision", "allow"}, 1},
		{"tollgate_inflight_calls", nil, 1},
		{"tollgate_calls_total", []string{"tool", "secret", "decision", "hidden"}, 1},
		{"tollgate_calls_total", []string{"tool", "", "decision", "invalid"}, 1},
		{"tollgate_calls_total", []string{"tool", "forbidden", "decision", "invalid"}, 1},
		{"tollgate_decision_seconds", nil, 12}, // 4 echo, 2 limited, forbidden, secret, 2 refused, watched, state error
		{"tollgate_upstream_seconds", nil, 5},
		{"tollgate_state_errors_total", nil, 1},
		{"tollgate_reloads_total", []string{"result", "ok"}, 1},
		{"tollgate_reloads_total", []string{"result", "invalid"}, 1},
		{"tollgate_reloads_total", []string{"result", "error"}, 0},
		{"tollgate_approval_events_total", []string{"event", "approved"}, 1},
		{"tollgate_audit_dropped_total", nil, 7},
		{"tollgate_audit_write_errors_total", nil, 2},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, s := range fams["tollgate_calls_total"].Metric {
		if strings.HasPrefix(s.Label[0].GetValue(), "approval_approved") || s.Label[1].GetValue() == "pay" {
			t.Errorf("an approval step was counted as a call: %v", s.Label)
		}
	}
	held.Done(proxy.End{})
	if got := value(t, scrape(t, srv.Addr()), "tollgate_inflight_calls"); got != 0 {
		t.Errorf("in flight after the last call ended: %v", got)
	}
}

func TestToolLabelsAreCapped(t *testing.T) {
	m := New(Options{})
	for i := range MaxTools + 50 {
		m.Record(event.Event{Tool: fmt.Sprint("tool", i), Decision: "deny", Time: time.Now()})
	}
	f := parse(t, m.AppendText(nil))["tollgate_calls_total"]
	if n := len(f.Metric); n != MaxTools+1 {
		t.Errorf("%d series, want %d tools plus _other", n, MaxTools)
	}
	for _, s := range f.Metric {
		if s.Label[1].GetValue() == "_other" && s.Counter.GetValue() != 50 {
			t.Errorf("_other = %v, want 50", s.Counter.GetValue())
		}
	}
	// A tool seen before the cap keeps its own series.
	m.Record(event.Event{Tool: "tool0", Decision: "deny", Time: time.Now()})
	if got := value(t, parse(t, m.AppendText(nil)), "tollgate_calls_total", "tool", "tool0"); got != 2 {
		t.Errorf("tool0 = %v, want 2", got)
	}
}

func BenchmarkRecord(b *testing.B) {
	m := New(Options{})
	ev := event.Event{Tool: "send_email", Decision: "allow", Outcome: "ok", Latency: time.Millisecond, Time: time.Now()}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Forwarded(ev)
			m.Record(ev)
		}
	})
}

func TestGatewayServerUp(t *testing.T) {
	m := New(Options{})
	if strings.Contains(string(m.AppendText(nil)), "tollgate_gateway_server_up") {
		t.Fatal("server_up written before any server reported")
	}
	m.ServerState("github", true, nil)
	m.ServerState("files", true, nil)
	m.ServerState("files", false, errors.New("it ended"))
	got := string(m.AppendText(nil))
	for _, want := range []string{
		"# TYPE tollgate_gateway_server_up gauge\n",
		"tollgate_gateway_server_up{server=\"files\"} 0\ntollgate_gateway_server_up{server=\"github\"} 1\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("metrics lack %q:\n%s", want, got)
		}
	}
}
