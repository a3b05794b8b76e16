package gate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// inlineFixture is a gate with inline approval on and a 2026-07-28
// client that declared elicitation.
func inlineFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, strings.Replace(approvalPolicy, "  timeout: 10m\n", "  timeout: 10m\n  inline: true\n", 1))
	f.sess = inlineSession("s1", "agent-7")
	return f
}

func inlineSession(id, identity string) *transport.Session {
	s := &transport.Session{ID: id, Identity: identity}
	s.SetVersion(mcp.Version20260728)
	s.SetCapabilities([]byte(`{"elicitation":{}}`))
	return s
}

// question is Tollgate's input_required answer to a held call.
type question struct {
	state, id, message string
}

// asked checks that r asks the person through an input_required result
// and returns the question.
func asked(t *testing.T, r proxy.Ruling) question {
	t.Helper()
	if r.Answer == nil {
		t.Fatalf("the call was let through, want an input_required answer")
	}
	var a struct {
		Result struct {
			ResultType    string `json:"resultType"`
			InputRequests map[string]struct {
				Method string `json:"method"`
				Params struct {
					Message         string          `json:"message"`
					RequestedSchema json.RawMessage `json:"requestedSchema"`
				} `json:"params"`
			} `json:"inputRequests"`
			RequestState string `json:"requestState"`
		} `json:"result"`
	}
	if err := json.Unmarshal(r.Answer, &a); err != nil {
		t.Fatalf("answer %s: %v", r.Answer, err)
	}
	q, ok := a.Result.InputRequests[inlineRequestKey]
	if a.Result.ResultType != "input_required" || len(a.Result.InputRequests) != 1 || !ok || q.Method != "elicitation/create" ||
		q.Params.RequestedSchema == nil || a.Result.RequestState == "" {
		t.Fatalf("answer %s does not ask the person", r.Answer)
	}
	id, ok := inlineStateID(a.Result.RequestState)
	if !ok || !strings.Contains(q.Params.Message, id) {
		t.Fatalf("requestState %q and message %q name no approval", a.Result.RequestState, q.Params.Message)
	}
	return question{state: a.Result.RequestState, id: id, message: q.Params.Message}
}

// retryAs judges a retry of a pay call from s, answering with action
// (no inputResponses when action is "").
func (f *fixture) retryAs(t *testing.T, s *transport.Session, tool, args, state, action string) proxy.Ruling {
	t.Helper()
	c := &proxy.Call{Session: s, ID: []byte(`8`), Tool: tool, Args: []byte(args), Retry: true, RequestState: state}
	if action != "" {
		c.InputResponses = []byte(`{"` + inlineRequestKey + `":{"action":"` + action + `","content":{}}}`)
	}
	return f.g.Judge(context.Background(), c)
}

func (f *fixture) status(t *testing.T, id string) approval.Status {
	t.Helper()
	r, err := f.store.Get(context.Background(), id, f.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	return r.Status
}

func (f *fixture) count(decision string) int {
	n := 0
	for _, d := range f.evs.decisions() {
		if d == decision {
			n++
		}
	}
	return n
}

// TestInlineRoundAnswers: a 2026-07-28 client is asked through an
// input_required result; its retry's answer decides the approval as an
// inline answer does in earlier revisions.
func TestInlineRoundAnswers(t *testing.T) {
	const args = `{"amount":60000,"to":"bob"}`
	for _, tc := range []struct {
		action string
		want   approval.Status
	}{{"accept", approval.Consumed}, {"decline", approval.Denied}, {"cancel", approval.Pending}, {"", approval.Pending}} {
		t.Run("action="+tc.action, func(t *testing.T) {
			f := inlineFixture(t)
			q := asked(t, f.call(t, args))
			if !strings.Contains(q.message, "pay") || !strings.Contains(q.message, "60000") || !strings.Contains(q.message, "big payments") {
				t.Fatalf("question %q does not show the call", q.message)
			}
			if got := f.status(t, q.id); got != approval.Pending {
				t.Fatalf("asking left the approval %s", got)
			}
			// The retry reorders the arguments: the same JSON values.
			r := f.retryAs(t, f.sess, "pay", `{"to":"bob","amount":60000}`, q.state, tc.action)
			switch tc.want {
			case approval.Consumed:
				forwarded(t, r).Done(proxy.End{Result: []byte(`{"content":[]}`)})
				if !r.Fresh {
					t.Fatal("the accepted retry is forwarded with Tollgate's requestState")
				}
			case approval.Denied:
				if a := parseAnswer(t, r); !a.Result.IsError || !strings.HasPrefix(a.Result.Content[0].Text, "[POLICY DENIED]") {
					t.Fatalf("declined retry answered %s", r.Answer)
				}
			default:
				if id := pending(t, r); id != q.id {
					t.Fatalf("pending answer names %s, want %s", id, q.id)
				}
			}
			if got := f.status(t, q.id); got != tc.want {
				t.Fatalf("approval is %s, want %s", got, tc.want)
			}
			rec, _ := f.store.Get(context.Background(), q.id, f.clk.Now())
			if tc.want != approval.Pending && rec.Approver != "mcp-client:agent-7" {
				t.Fatalf("approver %q", rec.Approver)
			}
		})
	}
}

// TestInlineRoundAttacks: a retry that echoes Tollgate's requestState
// but does not answer its question is judged as a new call: it neither
// decides nor spends the approval, and is never forwarded on the
// question's answer.
func TestInlineRoundAttacks(t *testing.T) {
	const args = `{"amount":60000,"to":"bob"}`
	for _, tc := range []struct {
		name string
		// retry is the attacker's retry; it answers "accept".
		retry func(f *fixture, q question) proxy.Ruling
		// burns: the attack uses the question up (the person's own retry
		// is then a new call too).
		burns bool
	}{
		{"forged state for the approval", func(f *fixture, q question) proxy.Ruling {
			return f.retryAs(t, f.sess, "pay", args, newInlineState(q.id), "accept")
		}, false},
		{"state cut to its approval id", func(f *fixture, q question) proxy.Ruling {
			return f.retryAs(t, f.sess, "pay", args, inlineStatePrefix+q.id, "accept")
		}, false},
		{"changed arguments", func(f *fixture, q question) proxy.Ruling {
			return f.retryAs(t, f.sess, "pay", `{"amount":90000,"to":"mallory"}`, q.state, "accept")
		}, false},
		{"another session", func(f *fixture, q question) proxy.Ruling {
			return f.retryAs(t, inlineSession("s2", "agent-7"), "pay", args, q.state, "accept")
		}, false},
		{"another identity", func(f *fixture, q question) proxy.Ruling {
			return f.retryAs(t, inlineSession("s1", "agent-8"), "pay", args, q.state, "accept")
		}, false},
		{"another tool", func(f *fixture, q question) proxy.Ruling {
			return f.retryAs(t, f.sess, "refund", args, q.state, "accept")
		}, false},
		{"after the question expired", func(f *fixture, q question) proxy.Ruling {
			f.clk.Add(DefaultInlineWait + time.Second)
			return f.retryAs(t, f.sess, "pay", args, q.state, "accept")
		}, true},
		{"replayed after a cancel", func(f *fixture, q question) proxy.Ruling {
			pending(t, f.retryAs(t, f.sess, "pay", args, q.state, "cancel"))
			return f.retryAs(t, f.sess, "pay", args, q.state, "accept")
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := inlineFixture(t)
			q := asked(t, f.call(t, args))
			r := tc.retry(f, q)
			if r.Answer == nil && r.Ticket != nil && !strings.Contains(tc.name, "tool") {
				t.Fatalf("the attacker's retry was forwarded")
			}
			if tc.name == "another tool" {
				// refund has no rule: a new call, allowed as any, but
				// without Tollgate's requestState.
				if !r.Fresh {
					t.Fatal("a call echoing Tollgate's requestState is forwarded with it")
				}
			}
			if got := f.status(t, q.id); got != approval.Pending && !(tc.burns && got == approval.Expired) {
				t.Fatalf("the attack left the approval %s", got)
			}
			if f.count("approval_consumed") != 0 || f.count("approval_approved") != 0 {
				t.Fatalf("the attack decided the approval: %v", f.evs.decisions())
			}
			if tc.burns {
				return
			}
			// The person's own answer still counts, once.
			forwarded(t, f.retryAs(t, f.sess, "pay", args, q.state, "accept"))
			if got := f.status(t, q.id); got != approval.Consumed {
				t.Fatalf("approval is %s after the person accepted", got)
			}
			if r := f.retryAs(t, f.sess, "pay", args, q.state, "accept"); r.Answer == nil {
				t.Fatal("the accepted retry replayed was forwarded again")
			}
			if n := f.count("approval_consumed"); n != 1 {
				t.Fatalf("%d approvals consumed, want 1: %v", n, f.evs.decisions())
			}
		})
	}
}

// TestInlineRoundDecidedElsewhere: an approval decided by a listed
// approver while the question is open rules the retry, whatever the
// client answers; a retry that is let through never carries Tollgate's
// requestState to the server.
func TestInlineRoundDecidedElsewhere(t *testing.T) {
	const args = `{"amount":60000}`
	f := inlineFixture(t)
	q := asked(t, f.call(t, args))
	f.decide(t, q.id, false)
	if a := parseAnswer(t, f.retryAs(t, f.sess, "pay", args, q.state, "accept")); !strings.HasPrefix(a.Result.Content[0].Text, "[POLICY DENIED]") {
		t.Fatalf("accepting a denied approval: %+v", a)
	}
	q = asked(t, f.call(t, `{"amount":60001}`))
	f.decide(t, q.id, true)
	r := f.retryAs(t, f.sess, "pay", `{"amount":60001}`, q.state, "decline")
	forwarded(t, r)
	if !r.Fresh {
		t.Fatal("forwarded with Tollgate's requestState")
	}
}

// TestInlineRoundNeedsElicitation: inline approval asks only a client
// that declared elicitation, and only when the policy asks for it.
func TestInlineRoundNeedsElicitation(t *testing.T) {
	f := inlineFixture(t)
	f.sess.SetCapabilities([]byte(`{}`))
	pending(t, f.call(t, `{"amount":60000}`))
	g := newFixture(t, approvalPolicy)
	g.sess = inlineSession("s1", "agent-7")
	pending(t, g.call(t, `{"amount":60000}`))
}
