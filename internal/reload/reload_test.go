package reload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// version n of a policy: tool "t" is denied by rule "rule-n" with reason
// "reason-n", so any decision names the version it came from.
func version(n int) string {
	return fmt.Sprintf(`version: "1"
description: "v%d"
tools:
  t:
    rules:
      - name: "rule-%d"
        action: deny
        on_deny: "reason-%d"
`, n, n, n)
}

func mustLoad(t testing.TB, src string) *policy.Policy {
	t.Helper()
	p, err := policy.Load("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type harness struct {
	path    string
	g       *gate.Gate
	results chan Result
	logs    *syncBuffer
	w       *Watcher
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, initial string) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{path: filepath.Join(dir, "policy.yaml"), results: make(chan Result, 100), logs: &syncBuffer{}}
	if err := os.WriteFile(h.path, []byte(initial), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := policy.LoadFile(h.path)
	if err != nil {
		t.Fatal(err)
	}
	h.g = gate.New(p)
	h.g.Store = memstore.New()
	h.w, err = Watch(context.Background(), Options{
		Path: h.path, Revision: p.Revision(), Debounce: 20 * time.Millisecond,
		Apply:  func(p *policy.Policy) error { h.g.SetPolicy(p); return nil },
		Report: func(r Result) { h.results <- r },
		Logger: slog.New(slog.NewTextHandler(h.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.w.Close() })
	return h
}

func (h *harness) next(t *testing.T) Result {
	t.Helper()
	select {
	case r := <-h.results:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no reload within 10s")
		return Result{}
	}
}

// judge returns the rule that decided a call to t (denied or allowed).
func judge(t testing.TB, g *gate.Gate, tool string) string {
	t.Helper()
	var rec recorder
	g.Recorder = &rec
	r := g.Judge(context.Background(), &proxy.Call{Session: &transport.Session{ID: "s"}, ID: []byte("1"), Tool: tool, Args: []byte("{}")})
	if r.Ticket != nil {
		r.Ticket.Done(proxy.End{Result: []byte(`{"content":[]}`)})
	}
	ev := rec.last()
	return string(ev.Decision) + " " + ev.Rule
}

type recorder struct {
	mu  sync.Mutex
	evs []event.Event
}

func (r *recorder) Record(ev event.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

func (r *recorder) last() event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.evs) == 0 {
		return event.Event{}
	}
	return r.evs[len(r.evs)-1]
}

func TestReloadInPlaceWrite(t *testing.T) {
	h := start(t, version(1))
	for n := 2; n <= 6; n++ {
		f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString(version(n))
		f.Close()
		r := h.next(t)
		if r.Outcome != OK {
			t.Fatalf("write %d: %s %v", n, r.Outcome, r.Err)
		}
		if got, want := judge(t, h.g, "t"), fmt.Sprintf("deny rule-%d", n); got != want {
			t.Fatalf("after write %d the next call got %q, want %q", n, got, want)
		}
	}
}

func TestReloadByRenameFiveTimes(t *testing.T) {
	h := start(t, version(1))
	for n := 2; n <= 6; n++ {
		tmp := filepath.Join(filepath.Dir(h.path), fmt.Sprintf(".policy.yaml.tmp%d", n))
		if err := os.WriteFile(tmp, []byte(version(n)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, h.path); err != nil {
			t.Fatal(err)
		}
		r := h.next(t)
		if r.Outcome != OK || r.Policy.Revision() != mustLoad(t, version(n)).Revision() {
			t.Fatalf("rename %d: %s %v", n, r.Outcome, r.Err)
		}
		if got, want := judge(t, h.g, "t"), fmt.Sprintf("deny rule-%d", n); got != want {
			t.Fatalf("after rename %d the next call got %q, want %q", n, got, want)
		}
	}
}

func TestReloadThroughSymlinkSwap(t *testing.T) {
	// Kubernetes ConfigMap volumes: policy.yaml → ..data/policy.yaml, and
	// ..data is a symlink swapped atomically to a new directory.
	dir := t.TempDir()
	mk := func(n int) string {
		d := filepath.Join(dir, fmt.Sprintf("..v%d", n))
		os.Mkdir(d, 0o700)
		os.WriteFile(filepath.Join(d, "policy.yaml"), []byte(version(n)), 0o600)
		return filepath.Base(d)
	}
	os.Symlink(mk(1), filepath.Join(dir, "..data"))
	path := filepath.Join(dir, "policy.yaml")
	os.Symlink(filepath.Join("..data", "policy.yaml"), path)
	p, err := policy.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	g := gate.New(p)
	results := make(chan Result, 10)
	w, err := Watch(context.Background(), Options{Path: path, Revision: p.Revision(), Debounce: 20 * time.Millisecond,
		Apply: func(p *policy.Policy) error { g.SetPolicy(p); return nil }, Report: func(r Result) { results <- r }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for n := 2; n <= 3; n++ {
		tmp := filepath.Join(dir, "..data_tmp")
		os.Symlink(mk(n), tmp)
		os.Rename(tmp, filepath.Join(dir, "..data"))
		select {
		case r := <-results:
			if r.Outcome != OK {
				t.Fatal(r.Err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no reload after the ..data swap")
		}
		if got := judge(t, g, "t"); got != fmt.Sprintf("deny rule-%d", n) {
			t.Fatalf("got %q", got)
		}
	}
}

func TestInvalidReloadKeepsThePolicy(t *testing.T) {
	h := start(t, version(1))
	os.WriteFile(h.path, []byte(version(2)+"      - nmae: typo\n        action: deny\n"), 0o600)
	r := h.next(t)
	if r.Outcome != Invalid {
		t.Fatalf("outcome %s, want invalid", r.Outcome)
	}
	probs := r.Problems()
	if len(probs) == 0 || !strings.Contains(probs[0], "policy.yaml:9:9: unknown key \"nmae\"") {
		t.Errorf("problems %q, want positions", probs)
	}
	if got := judge(t, h.g, "t"); got != "deny rule-1" {
		t.Errorf("after an invalid reload the call got %q, want the old policy's rule-1", got)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "previous policy stays in force") || !strings.Contains(logs, "nmae") {
		t.Errorf("the log does not report the invalid file:\n%s", logs)
	}
	// Removing the file is an error too, and the policy stays.
	os.Remove(h.path)
	if r := h.next(t); r.Outcome != Error {
		t.Errorf("removed file: outcome %s", r.Outcome)
	}
	os.WriteFile(h.path, []byte(version(3)), 0o600)
	if r := h.next(t); r.Outcome != OK {
		t.Fatalf("fixed file: %s %v", r.Outcome, r.Err)
	}
	if got := judge(t, h.g, "t"); got != "deny rule-3" {
		t.Errorf("after the fix the call got %q", got)
	}
}

func TestApplyCanReject(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.yaml")
	os.WriteFile(path, []byte(version(1)), 0o600)
	results := make(chan Result, 10)
	w, err := Watch(context.Background(), Options{Path: path, Debounce: time.Millisecond,
		Apply:  func(p *policy.Policy) error { return errors.New("needs a state store") },
		Report: func(r Result) { results <- r }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	// Written whole (rename), so the watcher cannot read the file between
	// truncation and write, as an empty policy.
	tmp := filepath.Join(dir, "p.yaml.tmp")
	os.WriteFile(tmp, []byte(version(2)), 0o600)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-results:
		if r.Outcome != Rejected || !strings.Contains(r.Err.Error(), "needs a state store") {
			t.Errorf("got %s %v", r.Outcome, r.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no result")
	}
}

func TestReloadKeepsCounters(t *testing.T) {
	limited := func(desc string) string {
		return `version: "1"
description: "` + desc + `"
tools:
  t:
    rules:
      - name: two a minute
        rate_limit: 2/minute
`
	}
	h := start(t, limited("before"))
	for i := range 2 {
		if got := judge(t, h.g, "t"); got != "allow " {
			t.Fatalf("call %d: %q", i+1, got)
		}
	}
	os.WriteFile(h.path, []byte(limited("after")), 0o600)
	if r := h.next(t); r.Outcome != OK {
		t.Fatal(r.Err)
	}
	if got := judge(t, h.g, "t"); got != "deny two a minute" {
		t.Errorf("third call after a reload got %q: the counter was reset", got)
	}
}

// TestConcurrentCallsSeeOnePolicy judges calls while the policy flips
// between versions whose every rule names the version: a decision mixing
// two versions would name a rule of one and the revision of the other.
func TestConcurrentCallsSeeOnePolicy(t *testing.T) {
	multi := func(n int) string {
		return fmt.Sprintf(`version: "1"
default: deny
tools:
  t:
    rules:
      - name: "v%[1]d check a"
        conditions:
          - {path: args.a, op: eq, value: %[1]d}
      - name: "v%[1]d check b"
        conditions:
          - {path: args.b, op: eq, value: %[1]d}
`, n)
	}
	pols := []*policy.Policy{mustLoad(t, multi(1)), mustLoad(t, multi(2))}
	byRev := map[string]int{pols[0].Revision(): 1, pols[1].Revision(): 2}
	h := start(t, multi(1))
	var rec recorder
	h.g.Recorder = &rec
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var watchErr atomic.Value
	renames := make(chan struct{})
	go func() { // reloads through the watcher: rename in new versions
		defer close(renames)
		for i := range 4 {
			tmp := h.path + ".tmp"
			os.WriteFile(tmp, []byte(multi(2-i%2)), 0o600)
			os.Rename(tmp, h.path)
			select {
			case r := <-h.results:
				if r.Outcome != OK {
					watchErr.Store(fmt.Sprint(r.Outcome, r.Err))
				}
			case <-time.After(10 * time.Second):
				watchErr.Store("no reload within 10s")
				return
			}
		}
	}()
	wg.Go(func() { // and direct swaps, far more often
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h.g.SetPolicy(pols[i%2])
		}
	})
	const callers, calls = 4, 500
	var cw sync.WaitGroup
	for c := range callers {
		cw.Go(func() {
			for i := range calls {
				// a=1,b=2 passes neither version fully: v1 fails check b,
				// v2 fails check a.
				args := []byte(`{"a":1,"b":2}`)
				if (c+i)%2 == 1 {
					args = []byte(`{"a":2,"b":1}`)
				}
				r := h.g.Judge(context.Background(), &proxy.Call{Session: &transport.Session{ID: "s"}, ID: []byte("1"), Tool: "t", Args: args})
				if r.Ticket != nil {
					r.Ticket.Done(proxy.End{Result: []byte(`{}`)})
				}
			}
		})
	}
	cw.Wait()
	<-renames
	close(stop)
	wg.Wait()
	if e := watchErr.Load(); e != nil {
		t.Fatal(e)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.evs) != callers*calls {
		t.Fatalf("%d events, want %d", len(rec.evs), callers*calls)
	}
	seen := map[int]int{}
	for _, ev := range rec.evs {
		v := byRev[ev.PolicyRev]
		if v == 0 || !strings.HasPrefix(ev.Rule, fmt.Sprintf("v%d ", v)) || ev.Decision != "deny" {
			t.Fatalf("decision mixes versions: revision of v%d, rule %q, decision %s", v, ev.Rule, ev.Decision)
		}
		seen[v]++
	}
	if seen[1] == 0 || seen[2] == 0 {
		t.Logf("calls per version: %v (the swaps did not interleave; the check is weaker)", seen)
	}
}
