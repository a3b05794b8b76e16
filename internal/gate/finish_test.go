package gate

import (
	"context"
	"sync"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// deadlineStore notes whether Commit and Refund were given a deadline. It
// hides memstore's NonBlocking, as a store that does I/O would.
type deadlineStore struct {
	state.Store
	mu                 sync.Mutex
	commits, refunds   int
	commitDL, refundDL bool
}

func (s *deadlineStore) Commit(ctx context.Context, res string) error {
	s.note(ctx, &s.commits, &s.commitDL)
	return s.Store.Commit(ctx, res)
}

func (s *deadlineStore) Refund(ctx context.Context, res string) error {
	s.note(ctx, &s.refunds, &s.refundDL)
	return s.Store.Refund(ctx, res)
}

func (s *deadlineStore) note(ctx context.Context, n *int, deadline *bool) {
	_, dl := ctx.Deadline()
	s.mu.Lock()
	defer s.mu.Unlock()
	*n++
	*deadline = dl
}

// quickDeadlineStore is a deadlineStore whose Commit waits on nothing.
type quickDeadlineStore struct{ *deadlineStore }

func (quickDeadlineStore) QuickCommit() {}

// TestFinishBoundsWhatMayWait: a call's end commits its reservation with a
// deadline unless the store's Commit waits on nothing (QuickCommit), and
// refunds it with a deadline unless the store never waits (NonBlocking).
func TestFinishBoundsWhatMayWait(t *testing.T) {
	p, err := policy.Load("p.yaml", []byte(`version: "1"
tools:
  pay:
    rules:
      - name: cap
        conditions:
          - path: state.pay.spent
            op: lte
            value: 1000
        state:
          counter: spent
          window: day
          increment_from: args.amount
        refund_on_failure: true
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, quick := range []bool{false, true} {
		ds := &deadlineStore{Store: memstore.New()}
		g := New(p)
		g.Store = ds
		if quick {
			g.Store = quickDeadlineStore{ds}
		}
		s := &transport.Session{ID: "s"}
		run := func(id string, end proxy.End) {
			t.Helper()
			r := g.Judge(context.Background(), &proxy.Call{Session: s, ID: []byte(id), Tool: "pay", Args: []byte(`{"amount":5}`)})
			if r.Answer != nil || r.Ticket == nil {
				t.Fatalf("call %s was not let through: %s", id, r.Answer)
			}
			r.Ticket.Done(end)
		}
		run("1", proxy.End{Result: []byte(`{"content":[]}`)})
		run("2", proxy.End{Error: []byte(`{"code":-32000,"message":"failed"}`)})
		ds.mu.Lock()
		if ds.commits != 1 || ds.refunds != 1 {
			t.Fatalf("quick %v: %d commits and %d refunds, want 1 and 1", quick, ds.commits, ds.refunds)
		}
		if ds.commitDL == quick {
			t.Errorf("quick %v: commit had a deadline: %v", quick, ds.commitDL)
		}
		if !ds.refundDL {
			t.Errorf("quick %v: a refund, which may wait, had no deadline", quick)
		}
		ds.mu.Unlock()
	}
}

// blockingStore hides memstore's NonBlocking, as a store that does I/O
// would.
type blockingStore struct{ state.Store }

// TestWaits: what judging a call may wait on decides where the pump judges
// it: a person for an approval rule (whatever the store), the store for a
// limit kept out of memory, nothing otherwise.
func TestWaits(t *testing.T) {
	pol, err := policy.Load("p.yaml", []byte(approvalPolicy+`  echo:
    rules:
      - name: ten a minute
        rate_limit: 10/minute
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		store state.Store
		tool  string
		want  proxy.Wait
	}{
		{memstore.New(), "pay", proxy.WaitPerson},
		{blockingStore{memstore.New()}, "pay", proxy.WaitPerson},
		{memstore.New(), "echo", proxy.WaitNone},
		{blockingStore{memstore.New()}, "echo", proxy.WaitStore},
		{blockingStore{memstore.New()}, "other", proxy.WaitNone},
	} {
		g := New(pol)
		g.Store = tc.store
		if got := g.Waits(tc.tool); got != tc.want {
			t.Errorf("Waits(%q) with a %T: %v, want %v", tc.tool, tc.store, got, tc.want)
		}
	}
}
