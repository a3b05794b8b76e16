package gate

import (
	"context"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
)

// TestRetryNeedsNoSecondApproval: an approved call whose server asks for
// input is retried without a new approval (the approval was spent on
// the first round); a "retry" with other arguments is held for a new
// one.
func TestRetryNeedsNoSecondApproval(t *testing.T) {
	f := newFixture(t, approvalPolicy)
	f.sess.SetVersion(mcp.Version20260728)
	id := pending(t, f.call(t, `{"amount":60000,"to":"bob"}`))
	f.decide(t, id, true)
	forwarded(t, f.call(t, `{"amount":60000,"to":"bob"}`)).Done(proxy.End{Result: interimResult, InputRequired: true, RequestState: "st-1"})
	retry := func(args string) proxy.Ruling {
		return f.g.Judge(context.Background(), &proxy.Call{Session: f.sess, ID: []byte(`8`), Tool: "pay", Args: []byte(args), Retry: true, RequestState: "st-1"})
	}
	// Another amount under the same requestState: a new call, held.
	pending(t, retry(`{"amount":90000,"to":"bob"}`))
	forwarded(t, retry(`{"to":"bob","amount":60000}`)).Done(proxy.End{Result: []byte(`{"resultType":"complete","content":[]}`)})
	var consumed, retried int
	for _, ev := range f.evs.evs {
		if ev.Decision == "approval_consumed" {
			consumed++
		}
		if ev.Decision == "allow" && strings.Contains(ev.Reason, "retry of a call") {
			retried++
		}
	}
	if consumed != 1 || retried != 1 {
		t.Fatalf("%d approvals consumed and %d retries audited, want 1 and 1: %v", consumed, retried, f.evs.decisions())
	}
}

// TestApprovalErrorResponseStateless: under approvals.response: error a
// 2026-07-28 client gets the tool-result form, never the legacy -32003
// (basic/index#error-codes); earlier revisions keep Intercept's error.
func TestApprovalErrorResponseStateless(t *testing.T) {
	f := newFixture(t, strings.Replace(approvalPolicy, "  timeout: 10m\n", "  timeout: 10m\n  response: error\n", 1))
	f.sess.SetVersion(mcp.Version20260728)
	r := f.call(t, `{"amount":60000}`)
	if strings.Contains(string(r.Answer), "-32003") {
		t.Fatalf("a 2026-07-28 client got %s", r.Answer)
	}
	pending(t, r)
	f.sess.SetVersion(mcp.Version20251125)
	if a := parseAnswer(t, f.call(t, `{"amount":60001}`)); a.Error == nil || a.Error.Code != -32003 {
		t.Fatalf("a 2025-11-25 client got %+v, want -32003", a)
	}
}
