package gate

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// records counts the approval records in f's store.
func (f *fixture) records(t *testing.T) int {
	t.Helper()
	rs, err := f.store.List(context.Background(), approval.Filter{Now: f.clk.Now(), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return len(rs)
}

// TestMaxPendingBoundsHeldRequests: a caller with approvals.max_pending
// requests waiting for a person makes no new one (the call is denied and
// nothing is stored), while its own requests still work: an identical
// call shares its request, an approved one is consumed, a denied one
// refused; a decided, consumed or expired request frees its place, and
// another session has places of its own.
func TestMaxPendingBoundsHeldRequests(t *testing.T) {
	src := strings.Replace(approvalPolicy, "  timeout: 10m\n", "  timeout: 10m\n  max_pending: 2\n", 1)
	f := newFixture(t, src)
	if got := f.g.Policy().Approvals().MaxPending; got != 2 {
		t.Fatalf("MaxPending %d, want 2", got)
	}
	capped := func(args string) {
		t.Helper()
		before := f.records(t)
		a := parseAnswer(t, f.call(t, args))
		d := a.Result.Meta["dev.tollgate/decision"]
		if d.Action != "deny" || d.ApprovalID != "" || !strings.Contains(a.Result.Content[0].Text, "approvals.max_pending") {
			t.Fatalf("call %s over the cap: answer %+v, want a denial naming approvals.max_pending", args, a)
		}
		if after := f.records(t); after != before {
			t.Fatalf("a call over the cap stored a request: %d records, was %d", after, before)
		}
	}
	idA := pending(t, f.call(t, `{"amount":60001}`))
	idB := pending(t, f.call(t, `{"amount":60002}`))
	capped(`{"amount":60003}`)
	capped(`{"amount":60004}`)
	// The same call as A shares A's request, though dedupe_window is off.
	if id := pending(t, f.call(t, `{"amount":60001}`)); id != idA {
		t.Fatalf("an identical call over the cap got request %s, want A's %s", id, idA)
	}
	// A approved: the call consumes it, and its place is free.
	f.decide(t, idA, true)
	forwarded(t, f.call(t, `{"amount":60001}`))
	idC := pending(t, f.call(t, `{"amount":60003}`))
	capped(`{"amount":60004}`)
	// B denied: the call is refused, and its place is free.
	f.decide(t, idB, false)
	a := parseAnswer(t, f.call(t, `{"amount":60002}`))
	if d := a.Result.Meta["dev.tollgate/decision"]; d.Action != "deny" || d.ApprovalID != idB {
		t.Fatalf("denied request: answer %+v", a)
	}
	pending(t, f.call(t, `{"amount":60004}`))
	capped(`{"amount":60005}`)
	// Another session has places of its own.
	f.sess = &transport.Session{ID: "s2", Identity: "agent-7"}
	pending(t, f.call(t, `{"amount":60005}`))
	// Without a session (2026-07-28), each identity has places of its own.
	f.sess = &transport.Session{Identity: "agent-8"}
	pending(t, f.call(t, `{"amount":60005}`))
	pending(t, f.call(t, `{"amount":60006}`))
	capped(`{"amount":60007}`)
	f.sess = &transport.Session{Identity: "agent-9"}
	pending(t, f.call(t, `{"amount":60007}`))
	f.sess = &transport.Session{ID: "s1", Identity: "agent-7"}
	// Requests lapse with the approval timeout, and their places with them.
	f.clk.Add(11 * time.Minute)
	pending(t, f.call(t, `{"amount":60006}`))
	pending(t, f.call(t, `{"amount":60007}`))
	capped(`{"amount":60008}`)
	if f.records(t) < 3 {
		t.Fatal("requests were lost")
	}
	_ = idC
}

// TestMaxPendingDefaultAndOff: the default bound, and 0 for none.
func TestMaxPendingDefaultAndOff(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	for i := range 20 {
		pending(t, f.call(t, `{"amount":`+strconv.Itoa(60000+i)+`}`))
	}
	a := parseAnswer(t, f.call(t, `{"amount":70000}`))
	if !strings.Contains(a.Result.Content[0].Text, "20 requests of this caller") {
		t.Fatalf("21st request under the default: %+v", a)
	}
	off := newFixture(t, strings.Replace(approvalPolicy, "  timeout: 10m\n", "  timeout: 10m\n  max_pending: 0\n", 1))
	for i := range 30 {
		pending(t, off.call(t, `{"amount":`+strconv.Itoa(60000+i)+`}`))
	}
}

// gatheringStore holds each Begin until want calls have entered Begin, or
// a while has passed: calls that race for the last places all reach the
// store together, as they would under load.
type gatheringStore struct {
	approval.Store
	want    int
	mu      sync.Mutex
	entered int
	all     chan struct{}
}

func (s *gatheringStore) Begin(ctx context.Context, req approval.BeginRequest) (approval.BeginResult, error) {
	s.mu.Lock()
	if s.entered++; s.entered == s.want {
		close(s.all)
	}
	s.mu.Unlock()
	select {
	case <-s.all:
	case <-time.After(300 * time.Millisecond):
	}
	return s.Store.Begin(ctx, req)
}

// TestMaxPendingRacingCalls: distinct held calls sent together cannot
// overrun approvals.max_pending; each takes its place before the store is
// asked.
func TestMaxPendingRacingCalls(t *testing.T) {
	const racers = 10
	src := strings.Replace(approvalPolicy, "  timeout: 10m\n", "  timeout: 10m\n  max_pending: 2\n", 1)
	f := newFixture(t, src)
	f.g.Approvals.Store = &gatheringStore{Store: f.store, want: racers, all: make(chan struct{})}
	rulings := make([]proxy.Ruling, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			rulings[i] = f.g.Judge(context.Background(), &proxy.Call{Session: f.sess, ID: []byte(`7`), Tool: "pay",
				Args: []byte(`{"amount":` + strconv.Itoa(60000+i) + `}`)})
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, r := range rulings {
		count[parseAnswer(t, r).Result.Meta["dev.tollgate/decision"].Action]++
	}
	if count["approval_required"] != 2 || count["deny"] != racers-2 {
		t.Fatalf("%d racing calls under max_pending 2: %v, want 2 held and %d denied", racers, count, racers-2)
	}
	if n := f.records(t); n != 2 {
		t.Fatalf("%d requests stored, want 2", n)
	}
}
