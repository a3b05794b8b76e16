package gate

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/memstore"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	statemem "github.com/tollgate-mcp/tollgate/internal/state/memstore"
)

const approvalPolicy = `version: "1"
approvals:
  timeout: 10m
tools:
  pay:
    rules:
      - name: big payments
        action: require_approval
        conditions:
          - path: args.amount
            op: gt
            value: 50000
        reason: payments over 50000 need a person
`

type events struct {
	mu  sync.Mutex
	evs []Event
}

func (e *events) Record(ev Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) decisions() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		out = append(out, ev.Decision)
	}
	return out
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	g     *Gate
	store *memstore.Store
	clk   *clock
	evs   *events
	sess  *proxy.Session
}

func newFixture(t *testing.T, src string) *fixture {
	t.Helper()
	p, err := policy.Load("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{g: New(p), store: memstore.New(), clk: &clock{now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)},
		evs: &events{}, sess: &proxy.Session{ID: "s1", Identity: "agent-7"}}
	f.g.Now, f.g.Recorder = f.clk.Now, f.evs
	f.g.Approvals = &Approvals{Store: f.store}
	return f
}

// call judges one tools/call and runs its Admit, as the pump does.
func (f *fixture) call(t *testing.T, args string) proxy.Ruling {
	t.Helper()
	r := f.g.Judge(context.Background(), &proxy.Call{Session: f.sess, ID: []byte(`7`), Tool: "pay", Args: []byte(args)})
	if r.Admit != nil {
		r = r.Admit(context.Background())
	}
	return r
}

type answer struct {
	Error *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
	Result struct {
		Content []struct{ Text string } `json:"content"`
		IsError bool                    `json:"isError"`
		Meta    map[string]struct {
			Action     string `json:"action"`
			Rule       string `json:"rule"`
			ApprovalID string `json:"approval_id"`
			ExpiresAt  string `json:"expires_at"`
		} `json:"_meta"`
	} `json:"result"`
}

func parseAnswer(t *testing.T, r proxy.Ruling) answer {
	t.Helper()
	if r.Answer == nil {
		t.Fatalf("the call was let through, want an answer")
	}
	var a answer
	if err := json.Unmarshal(r.Answer, &a); err != nil {
		t.Fatalf("answer %s: %v", r.Answer, err)
	}
	return a
}

// pending checks that r holds the call for approval and returns its id.
func pending(t *testing.T, r proxy.Ruling) string {
	t.Helper()
	a := parseAnswer(t, r)
	d := a.Result.Meta["dev.tollgate/decision"]
	if !a.Result.IsError || d.Action != "approval_required" || !approval.ValidID(d.ApprovalID) || d.ExpiresAt == "" || d.Rule != "big payments" {
		t.Fatalf("answer %s is not an approval-required denial", r.Answer)
	}
	text := a.Result.Content[0].Text
	if !strings.HasPrefix(text, "[APPROVAL REQUIRED] ") || !strings.Contains(text, "approve with: tollgate approvals approve "+d.ApprovalID) {
		t.Fatalf("text %q lacks the instructions", text)
	}
	return d.ApprovalID
}

func forwarded(t *testing.T, r proxy.Ruling) proxy.Ticket {
	t.Helper()
	if r.Answer != nil || r.Ticket == nil {
		t.Fatalf("the call was not let through: %s", r.Answer)
	}
	return r.Ticket
}

func (f *fixture) decide(t *testing.T, id string, approve bool) {
	t.Helper()
	if _, err := f.store.Decide(context.Background(), id, approval.Decision{Approve: approve, Approver: "alice", Note: "checked", Now: f.clk.Now()}); err != nil {
		t.Fatal(err)
	}
}

func TestApprovalFlow(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	forwarded(t, f.call(t, `{"amount":10}`)).Done(proxy.End{Result: []byte(`{"content":[]}`)}) // conditions do not hold
	id := pending(t, f.call(t, `{"amount":60000,"to":"bob"}`))
	id2 := pending(t, f.call(t, `{"to":"bob","amount":60000}`)) // dedupe off: a second request
	if id2 == id {
		t.Fatal("without dedupe_window a second call shares the approval")
	}
	f.decide(t, id, true)
	tk := forwarded(t, f.call(t, `{"to":"bob","amount":6e4}`)) // same call, other spelling
	tk.Done(proxy.End{Result: []byte(`{"content":[]}`)})
	pending(t, f.call(t, `{"amount":60000,"to":"bob"}`)) // consumed: needs a new approval
	want := []string{"allow", "approval_requested", "approval_requested", "approval_consumed", "allow", "approval_requested"}
	if got := f.evs.decisions(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", got, want)
	}
	for _, ev := range f.evs.evs {
		if ev.Decision == "approval_consumed" && (ev.ApprovalID != id || ev.Approver != "alice" || ev.Session != "s1" || ev.Identity != "agent-7") {
			t.Fatalf("consumed event %+v", ev)
		}
	}
}

func TestApprovalChangedArgument(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	id := pending(t, f.call(t, `{"amount":60000,"to":"bob"}`))
	f.decide(t, id, true)
	if pending(t, f.call(t, `{"amount":60001,"to":"bob"}`)) == id {
		t.Fatal("a changed amount reused the approval")
	}
	pending(t, f.call(t, `{"amount":60000,"to":"eve"}`))
	forwarded(t, f.call(t, `{"amount":60000,"to":"bob"}`))
}

func TestApprovalDenied(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	id := pending(t, f.call(t, `{"amount":60000}`))
	f.decide(t, id, false)
	a := parseAnswer(t, f.call(t, `{"amount":60000}`))
	d := a.Result.Meta["dev.tollgate/decision"]
	if d.Action != "deny" || d.ApprovalID != id || !strings.Contains(a.Result.Content[0].Text, "alice") ||
		!strings.Contains(a.Result.Content[0].Text, "checked") {
		t.Fatalf("retry after a denial: %+v", a)
	}
}

func TestApprovalExpiry(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	id := pending(t, f.call(t, `{"amount":60000}`))
	f.decide(t, id, true)
	f.clk.Add(10 * time.Minute) // the approval expires unused
	id2 := pending(t, f.call(t, `{"amount":60000}`))
	if id2 == id {
		t.Fatal("an expired approval was used")
	}
	if got := f.evs.decisions(); strings.Join(got, ",") != "approval_requested,approval_expired,approval_requested" {
		t.Fatalf("events %v", got)
	}
	f.clk.Add(10 * time.Minute)
	if _, err := f.store.Decide(context.Background(), id2, approval.Decision{Approve: true, Approver: "late", Now: f.clk.Now()}); !errors.Is(err, approval.ErrExpired) {
		t.Fatalf("approving an expired request: %v", err)
	}
}

func TestApprovalDedupe(t *testing.T) {
	f := newFixture(t, strings.Replace(approvalPolicy, "  timeout: 10m\n", "  timeout: 10m\n  dedupe_window: 1m\n", 1))
	id := pending(t, f.call(t, `{"amount":60000}`))
	f.clk.Add(30 * time.Second)
	if pending(t, f.call(t, `{"amount":60000.0}`)) != id {
		t.Fatal("an identical call within the dedupe window got a new approval")
	}
	f.clk.Add(31 * time.Second)
	if pending(t, f.call(t, `{"amount":60000}`)) == id {
		t.Fatal("a call after the dedupe window shares the approval")
	}
	if got := f.evs.decisions(); strings.Join(got, ",") != "approval_requested,approval_reused,approval_requested" {
		t.Fatalf("events %v", got)
	}
}

func TestApprovalRestoredOnFailure(t *testing.T) {
	for name, done := range map[string][2]string{
		"rpc error":  {"", `{"code":-32000,"message":"boom"}`},
		"tool error": {`{"content":[],"isError":true}`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, approvalPolicy)
			id := pending(t, f.call(t, `{"amount":60000}`))
			f.decide(t, id, true)
			tk := forwarded(t, f.call(t, `{"amount":60000}`))
			var res, rpcErr []byte
			if done[0] != "" {
				res = []byte(done[0])
			}
			if done[1] != "" {
				rpcErr = []byte(done[1])
			}
			tk.Done(proxy.End{Result: res, Error: rpcErr})
			if r, _ := f.store.Get(context.Background(), id, f.clk.Now()); r.Status != approval.Approved {
				t.Fatalf("after a failed call the approval is %s", r.Status)
			}
			tk = forwarded(t, f.call(t, `{"amount":60000}`))
			tk.Done(proxy.End{Result: []byte(`{"content":[]}`)})
			pending(t, f.call(t, `{"amount":60000}`))
			got := strings.Join(f.evs.decisions(), ",")
			if !strings.Contains(got, "approval_consumed,allow,approval_restored,approval_consumed,allow") &&
				!strings.Contains(got, "approval_consumed,approval_restored,allow,approval_consumed,allow") {
				t.Fatalf("events %s", got)
			}
		})
	}
}

func TestApprovalRacingRetries(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	id := pending(t, f.call(t, `{"amount":60000}`))
	f.decide(t, id, true)
	const n = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	through := 0
	for range n {
		wg.Go(func() {
			r := f.g.Judge(context.Background(), &proxy.Call{Session: f.sess, ID: []byte(`1`), Tool: "pay", Args: []byte(`{"amount":60000}`)})
			r = r.Admit(context.Background())
			if r.Answer == nil {
				mu.Lock()
				through++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if through != 1 {
		t.Fatalf("%d of %d racing retries went through, want 1", through, n)
	}
}

func TestApprovalCountersReservedOnlyWhenForwarded(t *testing.T) {
	src := approvalPolicy + `      - name: two a minute
        rate_limit: 1/minute
`
	f := newFixture(t, src)
	f.g.Store = statemem.New()
	id := pending(t, f.call(t, `{"amount":60000}`)) // held: reserves nothing
	pending(t, f.call(t, `{"amount":70000}`))
	f.decide(t, id, true)
	tk := forwarded(t, f.call(t, `{"amount":60000}`)) // takes the one slot
	tk.Done(proxy.End{Result: []byte(`{"content":[]}`)})
	id3 := pending(t, f.call(t, `{"amount":80000}`))
	f.decide(t, id3, true)
	a := parseAnswer(t, f.call(t, `{"amount":80000}`)) // approved, but the limit is spent
	if a.Result.Meta["dev.tollgate/decision"].Action != "deny" {
		t.Fatalf("over the limit: %+v", a)
	}
	if r, _ := f.store.Get(context.Background(), id3, f.clk.Now()); r.Status != approval.Approved {
		t.Fatalf("the approval of a call the limit refused is %s, want approved (restored)", r.Status)
	}
	f.clk.Add(time.Minute)
	forwarded(t, f.call(t, `{"amount":80000}`))
}

func TestApprovalErrorResponse(t *testing.T) {
	f := newFixture(t, strings.Replace(approvalPolicy, "  timeout: 10m\n", "  timeout: 10m\n  response: error\n", 1))
	a := parseAnswer(t, f.call(t, `{"amount":60000}`))
	if a.Error == nil || a.Error.Code != -32003 {
		t.Fatalf("answer %+v, want a -32003 error", a)
	}
	var data struct {
		ApprovalID        string `json:"approval_id"`
		Status            string `json:"status"`
		HumanInstructions string `json:"human_instructions"`
		ExpiresAt         string `json:"expires_at"`
	}
	if err := json.Unmarshal(a.Error.Data, &data); err != nil {
		t.Fatal(err)
	}
	if !approval.ValidID(data.ApprovalID) || data.Status != "pending" || data.ExpiresAt == "" ||
		!strings.Contains(data.HumanInstructions, "tollgate approvals approve "+data.ApprovalID) {
		t.Fatalf("error data %s", a.Error.Data)
	}
}

func TestApprovalForgedIDDoesNothing(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	id := pending(t, f.call(t, `{"amount":60000}`))
	for _, forged := range []string{approval.NewID(), id + "x", strings.ToUpper(id)} {
		if _, err := f.store.Decide(context.Background(), forged, approval.Decision{Approve: true, Approver: "mallory", Now: f.clk.Now()}); !errors.Is(err, approval.ErrNotFound) {
			t.Fatalf("Decide(%q): %v", forged, err)
		}
	}
	pending(t, f.call(t, `{"amount":60000}`))
}

func TestApprovalWithoutStore(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	f.g.Approvals = nil
	r := f.g.Judge(context.Background(), &proxy.Call{Session: f.sess, ID: []byte(`7`), Tool: "pay", Args: []byte(`{"amount":60000}`)})
	a := parseAnswer(t, r)
	if a.Result.Meta["dev.tollgate/decision"].Action != "approval_required" || !strings.Contains(a.Result.Content[0].Text, "no approval store") {
		t.Fatalf("answer %s", r.Answer)
	}
}

type failingStore struct{ approval.Store }

func (failingStore) Begin(context.Context, approval.BeginRequest) (approval.BeginResult, error) {
	return approval.BeginResult{}, approval.ErrUnavailable
}

func TestApprovalStoreDownFailsClosed(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	f.g.Approvals.Store = failingStore{}
	f.g.FailOpen = true // counters may fail open; a held call never does
	a := parseAnswer(t, f.call(t, `{"amount":60000}`))
	if a.Result.Meta["dev.tollgate/decision"].Action != "deny" {
		t.Fatalf("answer %+v", a)
	}
}

type notices struct {
	mu sync.Mutex
	n  []approval.Notice
}

func (n *notices) Notify(x approval.Notice) { n.mu.Lock(); n.n = append(n.n, x); n.mu.Unlock() }

func TestApprovalNotifies(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	nt := &notices{}
	f.g.Approvals.Notifier = nt
	id := pending(t, f.call(t, `{"amount":60000}`))
	if len(nt.n) != 1 || nt.n[0].ApprovalID != id || nt.n[0].Event != "approval_requested" || nt.n[0].Rule != "big payments" ||
		!strings.HasPrefix(nt.n[0].ArgsHash, "sha256:") {
		t.Fatalf("notices %+v", nt.n)
	}
}
