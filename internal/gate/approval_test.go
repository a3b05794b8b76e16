package gate

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/memstore"
	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	statemem "github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
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
	evs []event.Event
}

func (e *events) Record(ev event.Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) decisions() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		out = append(out, string(ev.Decision))
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
	sess  *transport.Session
	alice ed25519.PrivateKey // listed in the policy as alice
	bob   ed25519.PrivateKey // listed nowhere
}

// withApprover lists key as alice's under approvals.
func withApprover(src string, key ed25519.PrivateKey) string {
	return strings.Replace(src, "approvals:\n", "approvals:\n  approvers:\n    alice: "+approval.FormatPublicKey(key.Public().(ed25519.PublicKey))+"\n", 1)
}

func newFixture(t *testing.T, src string) *fixture {
	t.Helper()
	_, alice, _ := ed25519.GenerateKey(nil)
	_, bob, _ := ed25519.GenerateKey(nil)
	p, err := policy.Load("p.yaml", []byte(withApprover(src, alice)))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{g: New(p), store: memstore.New(), clk: &clock{now: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)},
		evs: &events{}, sess: &transport.Session{ID: "s1", Identity: "agent-7"}, alice: alice, bob: bob}
	f.g.Now, f.g.Recorder = f.clk.Now, f.evs
	f.g.Approvals = &Approvals{Store: f.store}
	return f
}

// call judges one tools/call, as the pump does.
func (f *fixture) call(t *testing.T, args string) proxy.Ruling {
	t.Helper()
	return f.g.Judge(context.Background(), &proxy.Call{Session: f.sess, ID: []byte(`7`), Tool: "pay", Args: []byte(args)})
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
	if !strings.HasPrefix(text, "[APPROVAL REQUIRED] ") || !strings.Contains(text, d.ApprovalID) || !strings.Contains(text, "waits for a person") {
		t.Fatalf("text %q lacks the instructions", text)
	}
	if strings.Contains(text, "tollgate approvals") {
		t.Fatalf("text %q tells the agent how to approve", text)
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

// decide approves (signed with alice's key) or denies id as alice.
func (f *fixture) decide(t *testing.T, id string, approve bool) {
	t.Helper()
	f.decideAs(t, id, approve, "alice", f.alice)
}

// decideAs decides id as approver, signing with key when it is not nil.
func (f *fixture) decideAs(t *testing.T, id string, approve bool, approver string, key ed25519.PrivateKey) {
	t.Helper()
	ctx := context.Background()
	d := approval.Decision{Approve: approve, Approver: approver, Note: "checked", Now: f.clk.Now()}
	if approve && key != nil {
		r, err := f.store.Get(ctx, id, f.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		d.Signature = rawSign(key, r, approver)
	}
	if _, err := f.store.Decide(ctx, id, d); err != nil {
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

// TestApprovalSpentOnceForwarded: once the approved call has left Tollgate
// it may have run, so the approval is spent whatever the server answers or
// whether the client cancelled; only a call that never left gives it back.
func TestApprovalSpentOnceForwarded(t *testing.T) {
	for name, tc := range map[string]struct {
		end     proxy.End
		restore bool
	}{
		"rpc error":          {proxy.End{Error: []byte(`{"code":-32000,"message":"boom"}`)}, false},
		"tool error":         {proxy.End{Result: []byte(`{"content":[],"isError":true}`)}, false},
		"cancelled":          {proxy.End{Cancelled: true}, false},
		"cancelled, errored": {proxy.End{Cancelled: true, Error: []byte(`{"code":-32800,"message":"cancelled"}`)}, false},
		"no answer":          {proxy.End{}, false},
		"unsent":             {proxy.End{Unsent: true}, true},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, approvalPolicy)
			id := pending(t, f.call(t, `{"amount":60000}`))
			f.decide(t, id, true)
			forwarded(t, f.call(t, `{"amount":60000}`)).Done(tc.end)
			r, _ := f.store.Get(context.Background(), id, f.clk.Now())
			if !tc.restore {
				if r.Status != approval.Consumed {
					t.Fatalf("after %s the approval is %s, want consumed", name, r.Status)
				}
				if pending(t, f.call(t, `{"amount":60000}`)) == id {
					t.Fatal("the spent approval was offered again")
				}
				return
			}
			if r.Status != approval.Approved {
				t.Fatalf("after an unsent call the approval is %s, want approved (restored)", r.Status)
			}
			forwarded(t, f.call(t, `{"amount":60000}`)).Done(proxy.End{Result: []byte(`{"content":[]}`)})
			pending(t, f.call(t, `{"amount":60000}`))
			if got := strings.Join(f.evs.decisions(), ","); !strings.Contains(got, "approval_consumed,allow,approval_restored,approval_consumed,allow") &&
				!strings.Contains(got, "approval_consumed,approval_restored,allow,approval_consumed,allow") {
				t.Fatalf("events %s", got)
			}
		})
	}
}

// unverified checks that the last approval_unverified event is about id
// and its reason contains why.
func (f *fixture) unverified(t *testing.T, id, why string) {
	t.Helper()
	f.evs.mu.Lock()
	defer f.evs.mu.Unlock()
	for i := len(f.evs.evs) - 1; i >= 0; i-- {
		if ev := f.evs.evs[i]; ev.Decision == event.ApprovalUnverified {
			if ev.ApprovalID != id || !strings.Contains(ev.Reason, why) {
				t.Fatalf("unverified event %+v, want %s and %q", ev, id, why)
			}
			return
		}
	}
	t.Fatalf("no approval_unverified event; events %v", f.evs.evs)
}

// TestApprovalNeedsSignature: what an agent with write access to the store
// can do to an approval record does not let its call through.
func TestApprovalNeedsSignature(t *testing.T) {
	for _, tc := range []struct {
		name     string
		approver string
		key      func(f *fixture) ed25519.PrivateKey
		why      string
	}{
		{"no signature", "alice", func(*fixture) ed25519.PrivateKey { return nil }, "no signature"},
		{"an unlisted key, as alice", "alice", func(f *fixture) ed25519.PrivateKey { return f.bob }, "does not verify"},
		{"an unlisted key, as itself", "bob", func(f *fixture) ed25519.PrivateKey { return f.bob }, "not in the policy"},
		{"inline-style, unsigned", "mcp-client:agent-7", func(*fixture) ed25519.PrivateKey { return nil }, "no signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, approvalPolicy)
			id := pending(t, f.call(t, `{"amount":60000}`))
			f.decideAs(t, id, true, tc.approver, tc.key(f))
			if again := pending(t, f.call(t, `{"amount":60000}`)); again == id {
				t.Fatal("answered with the untrusted approval's id")
			}
			f.unverified(t, id, tc.why)
			if r, _ := f.store.Get(context.Background(), id, f.clk.Now()); r.Status != approval.Approved {
				t.Fatalf("the untrusted approval is %s, want left approved (not consumed)", r.Status)
			}
		})
	}
}

// TestApprovalSignedForAnotherCall: alice's signature over one call's
// approval does not carry over to a record of another call.
func TestApprovalSignedForAnotherCall(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	small := pending(t, f.call(t, `{"amount":60000}`))
	big := pending(t, f.call(t, `{"amount":9999999}`))
	ctx := context.Background()
	rs, _ := f.store.Get(ctx, small, f.clk.Now())
	rb, _ := f.store.Get(ctx, big, f.clk.Now())
	// The agent copies the signature of a (legitimately approved) small
	// payment's statement onto the big one's record; and alice's signature
	// made for the big record's id but the small call's fingerprint.
	rb2 := rb
	rb2.Fingerprint = rs.Fingerprint
	sig := rawSign(f.alice, rb2, "alice")
	if _, err := f.store.Decide(ctx, big, approval.Decision{Approve: true, Approver: "alice", Signature: sig, Now: f.clk.Now()}); err != nil {
		t.Fatal(err)
	}
	pending(t, f.call(t, `{"amount":9999999}`))
	f.unverified(t, big, "does not verify")
}

// TestApprovalKeyRemovedByReload: the policy in force decides whose
// signature counts.
func TestApprovalKeyRemovedByReload(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	withAlice := f.g.Policy()
	id := pending(t, f.call(t, `{"amount":60000}`))
	f.decide(t, id, true)
	// The reloaded policy lists another key under alice's name (a new
	// revision, so calls under it need their own approvals).
	p2, err := policy.Load("p.yaml", []byte(withApprover(approvalPolicy, f.bob)))
	if err != nil {
		t.Fatal(err)
	}
	f.g.SetPolicy(p2)
	id2 := pending(t, f.call(t, `{"amount":60000}`)) // another revision: its own request
	f.decide(t, id2, true)                           // alice signs, but p2 lists bob as alice
	if pending(t, f.call(t, `{"amount":60000}`)) == id2 {
		t.Fatal("answered with the untrusted approval's id")
	}
	f.unverified(t, id2, "does not verify")
	f.g.SetPolicy(withAlice) // alice's key back: her approvals count again
	forwarded(t, f.call(t, `{"amount":60000}`))
}

// TestApprovalReplayed: an agent that sets a consumed record back to
// approved (its signature still verifies) does not get a second run from
// this proxy.
func TestApprovalReplayed(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	id := pending(t, f.call(t, `{"amount":60000}`))
	f.decide(t, id, true)
	forwarded(t, f.call(t, `{"amount":60000}`)).Done(proxy.End{Result: []byte(`{"content":[]}`)})
	if err := f.store.Restore(context.Background(), id); err != nil { // status=approved, as a write to the store would
		t.Fatal(err)
	}
	pending(t, f.call(t, `{"amount":60000}`))
	f.unverified(t, id, "already ran")
}

// TestApprovalNoApprovers: without approvers no stored approval counts.
func TestApprovalNoApprovers(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	p, err := policy.Load("p.yaml", []byte(approvalPolicy))
	if err != nil {
		t.Fatal(err)
	}
	f.g.SetPolicy(p)
	id := pending(t, f.call(t, `{"amount":60000}`))
	f.decide(t, id, true)
	pending(t, f.call(t, `{"amount":60000}`))
	f.unverified(t, id, "lists no approvers")
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
		!strings.Contains(data.HumanInstructions, data.ApprovalID) || strings.Contains(data.HumanInstructions, "tollgate approvals") {
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

// rawSign signs r's statement as SignDecision did before it checked the
// record: for tests of what a proxy does with any signature.
func rawSign(key ed25519.PrivateKey, r approval.Record, approver string) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(ed25519.Sign(key, approval.Statement(r.ID, r.Fingerprint, approver, r.ExpiresAt)))
}
