package gate

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

const roundsPolicy = `version: "1"
tools:
  pay:
    rules:
      - name: one an hour
        rate_limit: 1/hour
        on_deny: "one payment an hour"
`

func roundsGate(t *testing.T, src string) (*Gate, *time.Time) {
	t.Helper()
	p, err := policy.Load("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 8, 1, 10, 0, 0, 0, time.UTC)
	g := New(p)
	g.Store = memstore.New()
	g.Now = func() time.Time { return now }
	return g, &now
}

func session(id, identity, version string) *transport.Session {
	s := &transport.Session{ID: id, Identity: identity}
	s.SetVersion(version)
	return s
}

// taskSession is a stateless (2026-07-28) session whose client declared the
// tasks extension: its calls may be answered with tasks.
func taskSession(id, identity string) *transport.Session {
	s := session(id, identity, mcp.Version20260728)
	s.SetCapabilities([]byte(`{"extensions":{"io.modelcontextprotocol/tasks":{}}}`))
	return s
}

// interimResult is an input_required answer asking for confirmation.
var interimResult = []byte(`{"resultType":"input_required","inputRequests":{"ok":{"method":"elicitation/create","params":{"message":"sure?"}}},"requestState":"st-1"}`)

// TestRetryIsOneCall: the retry of an input_required call (same session,
// tool, arguments as JSON values and requestState) is forwarded without
// being charged; anything that only claims to be that retry is judged,
// and charged, as a new call.
func TestRetryIsOneCall(t *testing.T) {
	stateless := session("stateless:alice", "alice", mcp.Version20260728)
	cases := []struct {
		name    string
		retry   proxy.Call
		allowed bool
	}{
		{"same call, keys reordered", proxy.Call{Session: stateless, Tool: "pay", Args: []byte(`{ "to":"bob", "amount":5 }`), Retry: true, RequestState: "st-1"}, true},
		{"other arguments", proxy.Call{Session: stateless, Tool: "pay", Args: []byte(`{"amount":5000,"to":"bob"}`), Retry: true, RequestState: "st-1"}, false},
		{"forged requestState", proxy.Call{Session: stateless, Tool: "pay", Args: []byte(`{"amount":5,"to":"bob"}`), Retry: true, RequestState: "st-2"}, false},
		{"no requestState", proxy.Call{Session: stateless, Tool: "pay", Args: []byte(`{"amount":5,"to":"bob"}`), Retry: true}, false},
		{"another identity", proxy.Call{Session: session("stateless:mallory", "mallory", mcp.Version20260728), Tool: "pay", Args: []byte(`{"amount":5,"to":"bob"}`), Retry: true, RequestState: "st-1"}, false},
		{"not a retry", proxy.Call{Session: stateless, Tool: "pay", Args: []byte(`{"amount":5,"to":"bob"}`)}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := roundsGate(t, roundsPolicy)
			ctx := context.Background()
			first := g.Judge(ctx, &proxy.Call{Session: stateless, ID: []byte("1"), Tool: "pay", Args: []byte(`{"amount":5,"to":"bob"}`)})
			if first.Answer != nil || first.Ticket == nil {
				t.Fatalf("first round: %s, want forwarded", first.Answer)
			}
			first.Ticket.Done(proxy.End{Result: interimResult, InputRequired: true, RequestState: "st-1"})
			retry := tc.retry
			retry.ID = []byte("2")
			r := g.Judge(ctx, &retry)
			if got := r.Answer == nil && r.Ticket != nil; got != tc.allowed {
				t.Fatalf("retry forwarded = %v (answer %s), want %v", got, r.Answer, tc.allowed)
			}
			if r.Ticket != nil {
				r.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"complete","content":[]}`)})
			}
			// The limit was charged once in all: a new call is denied.
			again := g.Judge(ctx, &proxy.Call{Session: stateless, ID: []byte("3"), Tool: "pay", Args: []byte(`{"amount":1}`)})
			if again.Answer == nil {
				t.Fatal("a new call after the rounds was forwarded: the limit of one was not charged")
			}
		})
	}
}

// TestRetryOnceAndRearm: an interim result admits one retry; a retry
// answered input_required again admits the next; a replay of a used
// retry, or one after the round's TTL, is a new call.
func TestRetryOnceAndRearm(t *testing.T) {
	g, now := roundsGate(t, roundsPolicy)
	ctx := context.Background()
	s := session("stateless", "", mcp.Version20260728)
	args := []byte(`{"amount":5}`)
	call := func(id string, retry bool, state string) proxy.Ruling {
		return g.Judge(ctx, &proxy.Call{Session: s, ID: []byte(id), Tool: "pay", Args: args, Retry: retry, RequestState: state})
	}
	r := call("1", false, "")
	r.Ticket.Done(proxy.End{Result: interimResult, InputRequired: true, RequestState: "st-1"})
	r = call("2", true, "st-1")
	if r.Ticket == nil {
		t.Fatalf("first retry: %s", r.Answer)
	}
	r.Ticket.Done(proxy.End{Result: interimResult, InputRequired: true, RequestState: "st-2"})
	if r := call("3", true, "st-1"); r.Answer == nil {
		t.Fatal("a replay of a used retry was forwarded free")
	}
	*now = now.Add(DefaultRoundTTL + time.Second)
	if r := call("4", true, "st-2"); r.Answer == nil {
		t.Fatal("a retry after the round's TTL was forwarded free")
	}
}

// TestTaskVisible: a task is visible to the session and identity whose
// call created it, while its tool stays visible and allowed.
func TestTaskVisible(t *testing.T) {
	g, now := roundsGate(t, "version: \"1\"\ntools:\n  long:\n    rules:\n      - name: small\n        conditions:\n          - path: args.n\n            op: lte\n            value: 10\n")
	ctx := context.Background()
	alice := taskSession("stateless:alice", "alice")
	r := g.Judge(ctx, &proxy.Call{Session: alice, ID: []byte("1"), Tool: "long", Args: []byte(`{"n":3}`)})
	if r.Ticket == nil {
		t.Fatalf("call: %s", r.Answer)
	}
	r.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"task","taskId":"t-1","status":"working"}`), TaskID: "t-1"})
	if !g.TaskVisible(alice, "t-1") {
		t.Fatal("the creating session cannot see its task")
	}
	for _, tc := range []struct {
		s  *transport.Session
		id string
	}{
		{session("stateless:mallory", "mallory", mcp.Version20260728), "t-1"},
		{session("stateless:alice", "", mcp.Version20260728), "t-1"},
		{alice, "t-2"},
		{alice, ""},
	} {
		if g.TaskVisible(tc.s, tc.id) {
			t.Errorf("session %q (identity %q) sees task %q", tc.s.ID, tc.s.Identity, tc.id)
		}
	}
	// The policy now denies those arguments: the task is not readable.
	p, err := policy.Load("p.yaml", []byte("version: \"1\"\ntools:\n  long:\n    rules:\n      - name: smaller\n        conditions:\n          - path: args.n\n            op: lte\n            value: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	g.SetPolicy(p)
	if g.TaskVisible(alice, "t-1") {
		t.Error("a task whose creating call the policy denies now is still visible")
	}
	p, _ = policy.Load("p.yaml", []byte("version: \"1\"\nhide: [long]\n"))
	g.SetPolicy(p)
	if g.TaskVisible(alice, "t-1") {
		t.Error("a task of a hidden tool is still visible")
	}
	p, _ = policy.Load("p.yaml", []byte("version: \"1\"\n"))
	g.SetPolicy(p)
	if !g.TaskVisible(alice, "t-1") {
		t.Error("the task is not visible again once its tool is allowed")
	}
	*now = now.Add(DefaultTaskTTL + time.Second)
	if g.TaskVisible(alice, "t-1") {
		t.Error("a task past its TTL is visible")
	}
}

// TestTaskKeepsItsArguments: the frame a call's arguments alias is reused
// once the call is judged; a call that may create a task (2025-11-25's
// task-augmented call, or a client declaring the tasks extension) keeps
// its own copy, which the task's visibility is later judged on.
func TestTaskKeepsItsArguments(t *testing.T) {
	const pol = "version: \"1\"\ntools:\n  long:\n    rules:\n      - name: small\n        conditions:\n          - path: args.n\n            op: lte\n            value: 10\n"
	legacy := session("s1", "", mcp.Version20251125)
	ext := session("stateless", "", mcp.Version20260728)
	ext.SetCapabilities([]byte(`{"extensions":{"io.modelcontextprotocol/tasks":{}}}`))
	for name, c := range map[string]proxy.Call{
		"task-augmented 2025-11-25": {Session: legacy, Tool: "long", Task: true},
		"tasks extension":           {Session: ext, Tool: "long"},
	} {
		t.Run(name, func(t *testing.T) {
			g, _ := roundsGate(t, pol)
			frame := []byte(`{"n":3}`)
			c.ID, c.Args = []byte("1"), frame
			r := g.Judge(context.Background(), &c)
			if r.Ticket == nil {
				t.Fatalf("call: %s", r.Answer)
			}
			copy(frame, `{"n":5}`) // the reader reuses the frame: arguments the new policy allows
			r.Ticket.Done(proxy.End{Result: []byte(`{"task":{"taskId":"t-1"}}`), TaskID: "t-1"})
			p, _ := policy.Load("p.yaml", []byte(pol+"      - name: not three\n        conditions:\n          - path: args.n\n            op: neq\n            value: 3\n"))
			g.SetPolicy(p)
			if g.TaskVisible(c.Session, "t-1") {
				t.Error("the task of a call with n=3 is visible under a policy that denies n=3: judged on other arguments")
			}
		})
	}
}

// TestTaskResultInspectedAsTheTools: the result a task delivers is
// inspected under the inspect entry of the tool whose call created it
// (not only "*"), under the policy in force, and what is found is audited
// as that tool's.
func TestTaskResultInspectedAsTheTools(t *testing.T) {
	g, _ := roundsGate(t, "version: \"1\"\ninspect:\n  long:\n    results: {secret: redact}\n  pay:\n    results: {card_number: deny}\n")
	rec := &recorded{}
	g.Recorder = rec
	alice := taskSession("stateless:alice", "alice")
	for i, tool := range []string{"long", "pay", "other"} {
		r := g.Judge(context.Background(), &proxy.Call{Session: alice, ID: []byte(strconv.Itoa(i)), Tool: tool, Args: []byte(`{}`)})
		if r.Ticket == nil {
			t.Fatalf("call %s: %s", tool, r.Answer)
		}
		id := "t-" + tool
		r.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"task","taskId":"` + id + `","status":"working"}`), TaskID: id})
	}
	rec.evs = nil
	const secret = `{"content":[{"type":"text","text":"key AKIAIOSFODNN7EXAMPLE card 4111 1111 1111 1111"}]}`
	filter := func(task string) string {
		frame := []byte(`{"jsonrpc":"2.0","id":9,"result":` + secret + `}`)
		out := g.FilterTaskResult(alice, task, frame, frame[len(`{"jsonrpc":"2.0","id":9,"result":`):len(frame)-1], false)
		return string(out)
	}
	if out := filter("t-long"); !strings.Contains(out, "[REDACTED:aws_access_key]") || !strings.Contains(out, "4111") {
		t.Errorf("task of long: %s, want the key redacted (long's entry) and nothing else", out)
	}
	if out := filter("t-pay"); !strings.Contains(out, "[POLICY DENIED]") || strings.Contains(out, "4111") || strings.Contains(out, "AKIA") {
		t.Errorf("task of pay: %s, want the result withheld (pay's entry denies card numbers)", out)
	}
	if out := filter("t-other"); out != `{"jsonrpc":"2.0","id":9,"result":`+secret+`}` {
		t.Errorf("task of other: %s, want it unchanged (no entry)", out)
	}
	if len(rec.evs) != 2 || rec.evs[0].Tool != "long" || rec.evs[0].Decision != event.Allow || rec.evs[1].Tool != "pay" || rec.evs[1].Decision != event.Deny {
		t.Errorf("audited %+v, want long's redaction and pay's denial", rec.evs)
	}
	// A task with no record (gone since the request) is inspected under
	// "*", none here.
	if out := filter("t-unknown"); out != `{"jsonrpc":"2.0","id":9,"result":`+secret+`}` {
		t.Errorf("unknown task: %s", out)
	}
}

// TestUninvitedTaskIsNotVisible: a server must not answer a call with a
// task unless the call may create one (2025-11-25's task parameter, or the
// tasks extension declared). A task it returns anyway is not recorded, so
// neither visible nor readable: the call's arguments, which visibility is
// judged on, were not kept.
func TestUninvitedTaskIsNotVisible(t *testing.T) {
	g, _ := roundsGate(t, "version: \"1\"\n")
	for _, s := range []*transport.Session{session("stateless:alice", "alice", mcp.Version20260728), session("s1", "", mcp.Version20251125)} {
		r := g.Judge(context.Background(), &proxy.Call{Session: s, ID: []byte("1"), Tool: "long", Args: []byte(`{}`)})
		if r.Ticket == nil {
			t.Fatalf("call: %s", r.Answer)
		}
		r.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"task","taskId":"t-1"}`), TaskID: "t-1"})
		if g.TaskVisible(s, "t-1") {
			t.Errorf("session %s sees a task its call did not ask for", s.ID)
		}
	}
}
