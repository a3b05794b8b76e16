package gate

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/backend"
	"github.com/tollgate-mcp/tollgate/internal/calls"
	callmem "github.com/tollgate-mcp/tollgate/internal/calls/memstore"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// sharedSpecs are state specs two Tollgate processes can share: one SQLite
// file, and one Redis under a prefix of its own per test.
func sharedSpecs(t *testing.T) map[string]func(t *testing.T) (string, backend.Options) {
	return map[string]func(t *testing.T) (string, backend.Options){
		"sqlite": func(t *testing.T) (string, backend.Options) {
			return "sqlite://" + filepath.Join(t.TempDir(), "state.db"), backend.Options{}
		},
		"redis": func(t *testing.T) (string, backend.Options) {
			return mcptest.Redis(t), backend.Options{Prefix: "gate" + rand.Text()[:10]}
		},
	}
}

// instance is one Tollgate process on a shared state backend: a gate of
// its own (its own in-process maps) whose counters, approvals and call
// records come from a backend of its own on spec.
func instance(t *testing.T, spec string, opts backend.Options, p *policy.Policy, now *time.Time) *Gate {
	t.Helper()
	ctx := context.Background()
	b, err := backend.Open(ctx, spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	g := New(p)
	g.Now = func() time.Time { return *now }
	if g.Store, err = b.Counters(ctx); err != nil {
		t.Fatal(err)
	}
	if g.Calls, err = b.Calls(ctx); err != nil {
		t.Fatal(err)
	}
	store, err := b.Approvals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g.Approvals = &Approvals{Store: store}
	return g
}

// twoInstances returns two gates enforcing src over one state backend,
// on one clock.
func twoInstances(t *testing.T, spec string, opts backend.Options, src string) (a, b *Gate, now *time.Time) {
	t.Helper()
	p, err := policy.Load("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	clk := time.Now().Truncate(time.Millisecond)
	return instance(t, spec, opts, p, &clk), instance(t, spec, opts, p, &clk), &clk
}

func payCall(s *transport.Session, id string, retry bool, state string) *proxy.Call {
	return &proxy.Call{Session: s, ID: []byte(id), Tool: "pay", Args: []byte(`{"amount":5,"to":"bob"}`), Retry: retry, RequestState: state}
}

// TestRetryThroughAnotherInstance: the retry of an input_required call
// that a load balancer sends to another instance on the same state
// backend is the same call: forwarded without a second charge (a limit of
// one proves it: the retry passes, a fresh call is denied). The interim
// result admits one retry in all: a second retry of the same round,
// through either instance, is a new call, and charged; a retry answered
// input_required again admits the next, wherever it goes.
func TestRetryThroughAnotherInstance(t *testing.T) {
	for name, spec := range sharedSpecs(t) {
		t.Run(name, func(t *testing.T) {
			url, opts := spec(t)
			a, b, _ := twoInstances(t, url, opts, roundsPolicy)
			ctx := context.Background()
			s := session("stateless:alice", "alice", mcp.Version20260728)
			first := a.Judge(ctx, payCall(s, "1", false, ""))
			if first.Answer != nil || first.Ticket == nil {
				t.Fatalf("first round through A: %s, want forwarded", first.Answer)
			}
			first.Ticket.Done(proxy.End{Result: interimResult, InputRequired: true, RequestState: "st-1"})

			retry := b.Judge(ctx, payCall(s, "2", true, "st-1"))
			if retry.Answer != nil || retry.Ticket == nil {
				t.Fatalf("retry through B: %s, want forwarded free", retry.Answer)
			}
			retry.Ticket.Done(proxy.End{Result: interimResult, InputRequired: true, RequestState: "st-2"})
			for _, g := range []*Gate{a, b} {
				if r := g.Judge(ctx, payCall(s, "3", true, "st-1")); r.Answer == nil {
					t.Fatal("a second retry of the round st-1 was forwarded free")
				}
			}
			next := a.Judge(ctx, payCall(s, "4", true, "st-2"))
			if next.Answer != nil || next.Ticket == nil {
				t.Fatalf("retry of the next round through A: %s, want forwarded free", next.Answer)
			}
			next.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"complete","content":[]}`)})
			for _, g := range []*Gate{a, b} {
				if r := g.Judge(ctx, payCall(s, "5", false, "")); r.Answer == nil {
					t.Fatal("a fresh call was forwarded: the limit of one was not charged, or charged nowhere")
				}
			}
		})
	}
}

// TestConcurrentRetriesTakeOneRound: retries of one round sent at once
// to both instances: exactly one is forwarded free.
func TestConcurrentRetriesTakeOneRound(t *testing.T) {
	const limitless = "version: \"1\"\ntools:\n  pay:\n    rules:\n      - name: counted\n        rate_limit: 1000/hour\n"
	for name, spec := range sharedSpecs(t) {
		t.Run(name, func(t *testing.T) {
			url, opts := spec(t)
			a, b, _ := twoInstances(t, url, opts, limitless)
			ctx := context.Background()
			s := session("stateless:alice", "alice", mcp.Version20260728)
			for round := range 5 {
				state := "st-" + string(rune('a'+round))
				a.Judge(ctx, payCall(s, "1", false, "")).Ticket.Done(proxy.End{Result: interimResult, InputRequired: true, RequestState: state})
				var mu sync.Mutex
				free := 0
				var wg sync.WaitGroup
				for i := range 8 {
					g := []*Gate{a, b}[i%2]
					wg.Go(func() {
						r := g.Judge(ctx, payCall(s, "2", true, state))
						if r.Ticket == nil {
							t.Errorf("retry: %s", r.Answer)
							return
						}
						if strings.Contains(ticketOf(r.Ticket).ev.Reason, "retry of a call") {
							mu.Lock()
							free++
							mu.Unlock()
						}
						r.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"complete","content":[]}`)})
					})
				}
				wg.Wait()
				if free != 1 {
					t.Fatalf("round %s: %d of 8 concurrent retries were forwarded as the retry, want 1", state, free)
				}
			}
		})
	}
}

// TestTaskThroughAnotherInstance: a task a stateless session's call
// created through one instance is visible through another on the same
// state backend to that session and identity only, and its id stays with
// its first creator there too.
func TestTaskThroughAnotherInstance(t *testing.T) {
	const src = "version: \"1\"\ntools:\n  long:\n    rules:\n      - name: small\n        conditions:\n          - path: args.n\n            op: lte\n            value: 10\n"
	for name, spec := range sharedSpecs(t) {
		t.Run(name, func(t *testing.T) {
			url, opts := spec(t)
			a, b, now := twoInstances(t, url, opts, src)
			ctx := context.Background()
			alice := taskSession("stateless:alice", "alice")
			mallory := session("stateless:mallory", "mallory", mcp.Version20260728)
			create := func(g *Gate, s *transport.Session, n, task string) {
				t.Helper()
				r := g.Judge(ctx, &proxy.Call{Session: s, ID: []byte("1"), Tool: "long", Args: []byte(`{"n":` + n + `}`)})
				if r.Ticket == nil {
					t.Fatalf("call: %s", r.Answer)
				}
				r.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"task","taskId":"` + task + `","status":"working"}`), TaskID: task})
			}
			create(a, alice, "3", "t-1")
			if !b.TaskVisible(alice, "t-1") {
				t.Fatal("the creating session cannot see its task through the other instance")
			}
			for _, s := range []*transport.Session{mallory, session("stateless:alice", "", mcp.Version20260728), session("stateless:alice", "bob", mcp.Version20260728)} {
				if a.TaskVisible(s, "t-1") || b.TaskVisible(s, "t-1") {
					t.Errorf("session %q (identity %q) sees alice's task", s.ID, s.Identity)
				}
			}
			// A server reusing the id for mallory does not hand it over.
			create(b, mallory, "4", "t-1")
			if a.TaskVisible(mallory, "t-1") || !a.TaskVisible(alice, "t-1") {
				t.Error("a task id reused for another session changed hands")
			}
			// The same session's new record replaces its own: judged on
			// the new arguments now.
			create(b, alice, "9", "t-1")
			p, _ := policy.Load("p.yaml", []byte(strings.Replace(src, "value: 10", "value: 5", 1)))
			a.SetPolicy(p)
			if a.TaskVisible(alice, "t-1") {
				t.Error("the task is judged on its first record's arguments, not its creator's latest")
			}
			create(a, alice, "3", "t-2")
			if !b.TaskVisible(alice, "t-2") {
				t.Error("a second task is not visible through the other instance")
			}
			*now = now.Add(DefaultTaskTTL + time.Second)
			if b.TaskVisible(alice, "t-2") {
				t.Error("a task past its TTL is visible through the other instance")
			}
			// An initialize-era session's tasks stay in its process.
			legacy := session("s-legacy", "alice", mcp.Version20251125)
			r := a.Judge(ctx, &proxy.Call{Session: legacy, ID: []byte("1"), Tool: "long", Args: []byte(`{"n":1}`), Task: true})
			r.Ticket.Done(proxy.End{Result: []byte(`{"task":{"taskId":"t-3"}}`), TaskID: "t-3"})
			if !a.TaskVisible(legacy, "t-3") || b.TaskVisible(legacy, "t-3") {
				t.Error("an initialize-era session's task is not kept in its own process only")
			}
		})
	}
}

// TestInlineApprovalThroughAnotherInstance: Tollgate's own question to a
// 2026-07-28 client, asked through one instance, is answered by the
// client's retry through another: the person's accept there approves and
// forwards the call, once.
func TestInlineApprovalThroughAnotherInstance(t *testing.T) {
	for name, spec := range sharedSpecs(t) {
		t.Run(name, func(t *testing.T) {
			url, opts := spec(t)
			src := strings.Replace(approvalPolicy, "  timeout: 10m\n", "  timeout: 10m\n  inline: true\n", 1)
			a, b, _ := twoInstances(t, url, opts, src)
			ctx := context.Background()
			s := inlineSession("stateless:agent-7", "agent-7")
			const args = `{"amount":60000,"to":"bob"}`
			q := asked(t, a.Judge(ctx, &proxy.Call{Session: s, ID: []byte("7"), Tool: "pay", Args: []byte(args)}))
			retry := &proxy.Call{Session: s, ID: []byte("8"), Tool: "pay", Args: []byte(args), Retry: true, RequestState: q.state,
				InputResponses: []byte(`{"` + inlineRequestKey + `":{"action":"accept","content":{}}}`)}
			r := b.Judge(ctx, retry)
			if r.Answer != nil || r.Ticket == nil || !r.Fresh {
				t.Fatalf("the answered retry through B: %s (fresh %v), want forwarded without Tollgate's state", r.Answer, r.Fresh)
			}
			r.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"complete","content":[]}`)})
			rec, err := a.Approvals.Store.Get(ctx, q.id, a.now())
			if err != nil || rec.Status != approval.Consumed {
				t.Fatalf("approval %s: %v, %v; want consumed", q.id, rec.Status, err)
			}
			// The question was answered once: replayed, it is a new call.
			if r := a.Judge(ctx, retry); r.Ticket != nil {
				t.Error("a replayed answer was forwarded")
			}
		})
	}
}

// TestCallStoreFailures: a round that cannot be noted or checked makes
// its retry a new call, judged and charged (never let through unjudged);
// a task that cannot be recorded or read is not visible; the calls go on.
func TestCallStoreFailures(t *testing.T) {
	ctx := context.Background()
	s := session("stateless:alice", "alice", mcp.Version20260728)
	broken := callmem.New(0)
	broken.Close()
	for name, arm := range map[string]calls.Store{"cannot note": broken, "cannot check": callmem.New(0)} {
		t.Run(name, func(t *testing.T) {
			g, _ := roundsGate(t, roundsPolicy)
			g.Calls = arm
			first := g.Judge(ctx, payCall(s, "1", false, ""))
			if first.Ticket == nil {
				t.Fatalf("first round: %s", first.Answer)
			}
			first.Ticket.Done(proxy.End{Result: interimResult, InputRequired: true, RequestState: "st-1"})
			g.Calls = broken
			if r := g.Judge(ctx, payCall(s, "2", true, "st-1")); r.Answer == nil {
				t.Fatal("a retry whose round the store could not note or check was forwarded free")
			}
		})
	}
	t.Run("tasks", func(t *testing.T) {
		s := taskSession("stateless:alice", "alice")
		g, _ := roundsGate(t, "version: \"1\"\n")
		g.Calls = broken
		r := g.Judge(ctx, &proxy.Call{Session: s, ID: []byte("1"), Tool: "long", Args: []byte(`{}`)})
		if r.Ticket == nil {
			t.Fatalf("call: %s", r.Answer)
		}
		r.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"task","taskId":"t-1"}`), TaskID: "t-1"})
		if g.TaskVisible(s, "t-1") {
			t.Error("a task the store could not record is visible")
		}
		ok := callmem.New(0)
		g.Calls = ok
		r = g.Judge(ctx, &proxy.Call{Session: s, ID: []byte("2"), Tool: "long", Args: []byte(`{}`)})
		r.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"task","taskId":"t-2"}`), TaskID: "t-2"})
		if !g.TaskVisible(s, "t-2") {
			t.Fatal("a recorded task is not visible")
		}
		ok.Close()
		if g.TaskVisible(s, "t-2") {
			t.Error("a task whose record cannot be read is visible")
		}
	})
}
