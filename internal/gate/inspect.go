package gate

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/inspect"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// InspectRule is the rule name of decisions made by the policy's inspect
// section.
const InspectRule = policy.InspectRule

// describe renders a finding for the audit trail: what was found where and
// what was done, never the matched text.
func describe(root string, f inspect.Finding) string {
	where := root
	if f.Path != "" {
		if f.Path[0] == '[' {
			where += f.Path
		} else {
			where += "." + f.Path
		}
	}
	if f.Key {
		where += " (a key)"
	}
	return f.Action.String() + " " + f.Detector + " (" + f.Class.String() + ") at " + where
}

// inspectArgs applies the policy's argument inspection to a call. It
// returns the arguments to forward (nil: unchanged) and what it found.
func inspectArgs(in *inspect.Inspector, args []byte) (out []byte, found []string, err error) {
	if len(args) == 0 {
		return nil, nil, nil
	}
	redacted, fs, err := in.Apply(args)
	if err != nil {
		return nil, nil, fmt.Errorf("inspect the arguments: %w", err)
	}
	for i := range fs {
		found = append(found, describe("args", fs[i]))
	}
	if len(fs) > 0 && !sameSlice(redacted, args) {
		out = redacted
	}
	return out, found, nil
}

func sameSlice(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// inspectResult applies a result inspection and size cap to an answer. It
// returns the frame the client gets (frame itself when nothing changed),
// what it found, and whether the answer was withheld.
func inspectResult(in *policy.Inspection, id, frame, result []byte, what string) ([]byte, []string, bool) {
	repl, found, reason := inspectAnswer(in, result, what)
	if reason != "" {
		return denialFrame(id, reason), found, true
	}
	if repl == nil {
		return frame, found, false
	}
	spliced, ok := proxy.Splice(frame, result, repl)
	if !ok {
		return denialFrame(id, "the server's answer could not be redacted, so it was withheld"), found, true
	}
	return spliced, found, false
}

// inspectAnswer applies a result inspection and size cap to result, the
// answer to what. It returns the answer redacted (nil when nothing
// changes), what it found, and when the answer must be withheld, why.
func inspectAnswer(in *policy.Inspection, result []byte, what string) (redacted []byte, found []string, withhold string) {
	if in.MaxResultBytes > 0 && len(result) > in.MaxResultBytes {
		reason := fmt.Sprintf("the server's answer (%d bytes) is larger than the policy allows (inspect max_result_bytes: %d); it was withheld", len(result), in.MaxResultBytes)
		return nil, []string{"deny max_result_bytes: " + strconv.Itoa(len(result)) + " bytes"}, reason
	}
	if in.Results == nil {
		return nil, nil, ""
	}
	out, fs, err := in.Results.Apply(result)
	if err != nil {
		return nil, []string{"deny unreadable result"}, "the server's answer could not be inspected, so it was withheld: " + err.Error()
	}
	var deny *inspect.Finding
	for i := range fs {
		found = append(found, describe("result", fs[i]))
		if fs[i].Action == inspect.Deny && deny == nil {
			deny = &fs[i]
		}
	}
	if deny != nil {
		return nil, found, fmt.Sprintf("the server's answer to %s held %s (%s), which the policy's inspect denies; it was withheld", what, deny.Detector, deny.Class)
	}
	if len(fs) == 0 || sameSlice(out, result) {
		return nil, found, ""
	}
	return out, found, ""
}

func denialFrame(id []byte, reason string) []byte {
	return mcp.AppendDenial(nil, id, "[POLICY DENIED] "+reason, mcp.Decision{Action: "deny", Rule: InspectRule, Reason: reason})
}

// denialResult is the tool result denialFrame answers with.
func denialResult(reason string) []byte {
	return mcp.AppendDenialResult(nil, "[POLICY DENIED] "+reason, mcp.Decision{Action: "deny", Rule: InspectRule, Reason: reason})
}

// FilterResult implements proxy.Gate for resources/read and prompts/get
// answers: the policy's inspect entry of that method (or "*") applies.
func (g *Gate) FilterResult(s *transport.Session, method string, id, frame, result []byte) []byte {
	if method == mcp.MethodPromptsList || method == mcp.MethodResourcesList || method == mcp.MethodTemplatesList {
		return g.filterPinnedList(s, method, frame, result) // pins.go; lists are not inspected
	}
	p := g.policy.Load()
	in := p.Inspection(method)
	if in == nil {
		return frame
	}
	out, found, withheld := inspectResult(in, id, frame, result, method)
	if len(found) > 0 {
		ev := event.Event{Time: g.now(), Tool: method, Decision: event.Allow, Rule: InspectRule, Findings: found,
			PolicyRev: p.Revision(), Outcome: "ok"}
		if s != nil {
			ev.Session, ev.Identity = s.ID, s.Identity
		}
		if withheld {
			ev.Decision = event.Deny
		}
		g.record(ev)
	}
	return out
}

// FilterPeer implements proxy.Gate: the inspect entry named by the method
// (sampling/createMessage, elicitation/create, or "*") inspects the
// server's request with its arguments detectors and the client's answer
// with its results detectors. What it denies is refused to the server with
// a JSON-RPC error; what it redacts or fences is changed in place.
func (g *Gate) FilterPeer(s *transport.Session, method string, answer bool, id, frame, payload []byte) (out, refuse []byte) {
	p := g.policy.Load()
	in := p.Inspection(method)
	if in == nil {
		return nil, nil
	}
	if answer {
		return g.inspectPayload(s, p, method, in.Results, "result", id, frame, payload)
	}
	return g.inspectPayload(s, p, method, in.Arguments, "params", id, frame, payload)
}

// inspectPayload applies insp (nil: nothing to do) to payload, which
// aliases frame and is named root in findings. It returns the frame with
// what was redacted or fenced (nil: unchanged), or refuse, a JSON-RPC error
// answering id, when something is denied or cannot be read or redacted.
// Findings are audited as the method's.
func (g *Gate) inspectPayload(s *transport.Session, p *policy.Policy, method string, insp *inspect.Inspector, root string, id, frame, payload []byte) (out, refuse []byte) {
	if insp == nil {
		return nil, nil
	}
	ev := event.Event{Time: g.now(), Tool: method, Decision: event.Allow, Rule: InspectRule, PolicyRev: p.Revision(), Outcome: "ok"}
	if s != nil {
		ev.Session, ev.Identity = s.ID, s.Identity
	}
	redacted, fs, err := insp.Apply(payload)
	var deny *inspect.Finding
	for i := range fs {
		ev.Findings = append(ev.Findings, describe(root, fs[i]))
		if fs[i].Action == inspect.Deny && deny == nil {
			deny = &fs[i]
		}
	}
	switch {
	case err != nil:
		ev.Reason = "could not be inspected: " + err.Error()
	case deny != nil:
		ev.Reason = fmt.Sprintf("held %s (%s), which the policy's inspect denies", deny.Detector, deny.Class)
	}
	if ev.Reason != "" {
		ev.Decision = event.Deny
		ev.Reason = "the " + method + " " + root + " " + ev.Reason
		g.record(ev)
		return nil, jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError, "refused by Tollgate's policy: "+ev.Reason, nil)
	}
	if len(fs) == 0 {
		return nil, nil
	}
	g.record(ev)
	if sameSlice(redacted, payload) {
		return nil, nil
	}
	spliced, ok := proxy.Splice(frame, payload, redacted)
	if !ok {
		ev.Decision, ev.Reason = event.Deny, "the "+method+" "+root+" could not be redacted"
		g.record(ev)
		return nil, jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError, "refused by Tollgate's policy: "+ev.Reason, nil)
	}
	return spliced, nil
}

var _ proxy.RequestJudge = (*Gate)(nil)

// JudgeRequest implements proxy.RequestJudge: the rules of the policy's
// requests entry for method decide on the request's params, and its rate
// limits are reserved in the state store, all or none, as a call's are. A
// refusal (by a rule, a full counter or a store that fails closed) is
// recorded and answered with a JSON-RPC error; under monitor mode, or for a
// rule in monitor mode, it is recorded as what would have been refused and
// the request goes on. An admitted request gets a ticket that records it,
// and commits or refunds its counters, when it ends. Under audit.required
// it is refused while the audit trail cannot record. A request no entry
// governs is neither judged nor recorded (nil, nil).
func (g *Gate) JudgeRequest(ctx context.Context, s *transport.Session, method string, id, params []byte) (refuse []byte, t proxy.Ticket) {
	p := g.policy.Load()
	if !p.GovernsRequest(method) {
		return nil, nil
	}
	if refuse := g.auditRefusal(s, method, id, params, requestRefusal); refuse != nil {
		// Audited like a call, and so refused like one while the trail
		// that audit.required asks for cannot record it.
		return refuse, nil
	}
	c := policy.Call{Tool: method, Args: params, Now: g.now()}
	if s != nil {
		c.Session, c.Identity = s.ID, s.Identity
	}
	d, _ := p.DecideRequest(&c)
	monitor := d.Monitor || g.Monitor
	ev := event.Event{Time: c.Now, Session: c.Session, Identity: c.Identity, Tool: method, Args: append([]byte(nil), params...),
		Decision: event.Decision(d.Action.String()), Rule: d.Rule, Reason: d.Reason, PolicyRev: p.Revision()}
	if d.Action != policy.Allow {
		if !monitor {
			g.record(ev)
			return requestRefusal(id, d.Rule, d.Reason, 0), nil
		}
		ev.Monitor = true
		g.record(ev)
		ev.Monitor, ev.Rule, ev.Reason = false, "", ""
	}
	ev.Decision = event.Allow
	if len(d.Charges) == 0 {
		return nil, &ticket{g: g, ev: ev, start: c.Now}
	}
	r := g.admit(ctx, id, ev, d.Charges, monitor, requestRefusal)
	return r.Answer, r.Ticket
}

// requestRefusal is the JSON-RPC error refusing a request (a denyFunc):
// the reason, and how long until a limit lets it through when that is
// known.
func requestRefusal(id []byte, _, reason string, retry time.Duration) []byte {
	msg := "refused by Tollgate's policy: " + reason
	if retry > 0 {
		msg += fmt.Sprintf(" (limit resets in %s)", roundUp(retry))
	}
	return jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError, msg, nil)
}

var _ proxy.InstructionsFilter = (*Gate)(nil)

// FilterInstructions implements proxy.InstructionsFilter: the results
// detectors of the "initialize" inspect entry, else of "*", apply to the
// server's instructions as to an answer. Clients hand them to the model as
// guidance before any call, so they carry nothing the answers may not:
// what is redacted or fenced is changed in place, and instructions the
// policy denies (or that cannot be read) are replaced by a notice that
// says why (the session still starts). Findings are audited as the
// initialize method's.
func (g *Gate) FilterInstructions(s *transport.Session, frame, result, instructions []byte) []byte {
	p := g.policy.Load()
	in := p.Inspection(mcp.MethodInitialize)
	if in == nil {
		return frame
	}
	out, refuse := g.inspectPayload(s, p, mcp.MethodInitialize, in.Results, "instructions", []byte("null"), frame, instructions)
	switch {
	case refuse != nil:
		reason := "the server's instructions were withheld by the policy's inspect"
		if m, err := jsonrpc.Parse(refuse, false); err == nil {
			reason = strings.TrimPrefix(mcp.ResultString(m.Error, "message"), "refused by Tollgate's policy: ") + "; they were withheld"
		}
		return mcp.SetResultMember(frame, result, "instructions", jsonrpc.AppendString(nil, "[POLICY DENIED] "+reason))
	case out != nil:
		return out
	}
	return frame
}

var _ proxy.NotificationFilter = (*Gate)(nil)

// FilterNotification implements proxy.NotificationFilter: the results
// detectors of the inspect entry named by the method
// (notifications/message, notifications/progress), else of "*", apply to
// the notification's params as to an answer's. What they deny drops the
// notification; what they redact or fence is changed in place. A client
// that sets the server's log level to debug does not get through the logs
// what the policy keeps out of the answers.
func (g *Gate) FilterNotification(s *transport.Session, method string, frame, params []byte) []byte {
	p := g.policy.Load()
	in := p.Inspection(method)
	if in == nil {
		return frame
	}
	out, refuse := g.inspectPayload(s, p, method, in.Results, "params", []byte("null"), frame, params)
	switch {
	case refuse != nil:
		return nil
	case out != nil:
		return out
	}
	return frame
}
