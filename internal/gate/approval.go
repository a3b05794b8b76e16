package gate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/visible"
)

// CodeApprovalRequired is the JSON-RPC error code of a held call under
// approvals.response: error (Intercept's form).
const CodeApprovalRequired = -32003

// DefaultInlineWait bounds how long an inline approval holds a call when
// Approvals.InlineWait is zero.
const DefaultInlineWait = 10 * time.Minute

// Approvals is what the gate needs to hold calls for a person.
type Approvals struct {
	// Store keeps the approval records, shared with the CLI and the admin
	// API (and other proxies on the same backend).
	Store approval.Store
	// Notifier, when set, is told of every new approval request (the
	// policy's approvals.notify.webhook). It must not block.
	Notifier interface{ Notify(approval.Notice) }
	// InlineWait bounds how long an inline approval (elicitation) holds a
	// call; it never holds past the approval's expiry. Zero means
	// DefaultInlineWait.
	InlineWait time.Duration

	// spent remembers the approvals this process consumed, until they
	// expire: an agent that can write the store could set a consumed record
	// back to approved, and its signature would still verify.
	mu    sync.Mutex
	spent map[string]time.Time
	// holds are the requests this gate made that wait for a person, by
	// caller (holdsKey), for approvals.max_pending (pendingcap.go); tracked
	// counts the places claimed, to sweep expired ones once in a while.
	holds   map[string][]outstanding
	tracked int

	// rounds are the inline questions asked through input_required
	// results (2026-07-28) that wait for their retry (inline_rounds.go),
	// when Gate.Calls does not keep them.
	rounds rounds
}

// spend notes that r was consumed here.
func (a *Approvals) spend(r approval.Record, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.spent == nil {
		a.spent = map[string]time.Time{}
	}
	for id, exp := range a.spent {
		if !now.Before(exp) {
			delete(a.spent, id)
		}
	}
	a.spent[r.ID] = r.ExpiresAt
}

// unspend forgets a consumption that was given back (Restore).
func (a *Approvals) unspend(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.spent, id)
}

func (a *Approvals) wasSpent(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.spent[id]
	return ok
}

// errReplayed: an approval this process already consumed is approved again.
var errReplayed = fmt.Errorf("%w: this proxy already ran the call it approves; the record was set back to approved", approval.ErrUnverified)

// RecordApproval tells the Recorder that something happened to an approval
// outside a call (a person approved or denied it through the admin API).
func (g *Gate) RecordApproval(decision event.Decision, r approval.Record) {
	g.record(approvalEvent(event.Event{Time: g.now(), Tool: r.Tool, PolicyRev: r.PolicyRev}, decision, r, g.now()))
}

func approvalEvent(base event.Event, decision event.Decision, r approval.Record, now time.Time) event.Event {
	ev := base
	ev.Time, ev.Decision, ev.ApprovalID, ev.Approver = now, decision, r.ID, r.Approver
	ev.Rule, ev.Reason = r.Rule, r.Reason
	if r.Note != "" && (decision == event.ApprovalApproved || decision == event.ApprovalDenied) {
		ev.Reason = r.Note
	}
	ev.Outcome, ev.Latency, ev.Counters = "", 0, nil
	return ev
}

// hold is one held call.
type hold struct {
	id      []byte      // raw request id (owned)
	ev      event.Event // Args owned
	session *transport.Session
	fp      string
	args    string // compacted arguments
	argHash string
	d       policy.Decision
	cfg     policy.ApprovalConfig
	rev     string
	// round binds a retry to this call (a 2026-07-28 session whose
	// arguments are canonical JSON), nil otherwise; its state is empty.
	round *roundKey
}

// requireApproval rules on a call an approval rule holds: it asks the
// approval store, and may ask the person inline.
func (g *Gate) requireApproval(ctx context.Context, c *proxy.Call, p *policy.Policy, d policy.Decision, ev event.Event) proxy.Ruling {
	if g.Approvals == nil || g.Approvals.Store == nil {
		reason := "approval required by rule " + quote(d.Rule) + ": " + d.Reason + " (no approval store is configured)"
		ev.Reason = reason
		g.record(ev)
		return proxy.Ruling{Answer: mcp.AppendDenial(nil, c.ID, "[APPROVAL REQUIRED] "+reason,
			mcp.Decision{Action: "approval_required", Rule: d.Rule, Reason: reason})}
	}
	fp, argHash, err := approval.Fingerprint(approval.Call{Tool: c.Tool, Args: c.Args, Rule: d.Rule, PolicyRev: p.Revision()})
	if err != nil {
		reason := "cannot read the arguments to bind an approval to them: " + err.Error()
		ev.Decision, ev.Reason = "deny", reason
		g.record(ev)
		return proxy.Ruling{Answer: denial(c.ID, d.Rule, reason, 0)}
	}
	var compact bytes.Buffer
	if json.Compact(&compact, c.Args) != nil {
		compact.Reset()
		compact.Write(c.Args)
	}
	ev.Args = append([]byte(nil), c.Args...)
	h := &hold{id: append([]byte(nil), c.ID...), ev: ev, session: c.Session, fp: fp, args: compact.String(),
		argHash: argHash, d: d, cfg: p.Approvals(), rev: p.Revision()}
	if c.Session != nil && mcp.Stateless(c.Session.Version()) {
		if sum, ok := roundArgs(c.Args); ok {
			h.round = &roundKey{session: c.Session.ID, identity: c.Session.Identity, tool: c.Tool, args: sum}
		}
	}
	if c.Retry && isInlineState(c.RequestState) {
		// Whether it binds or not, the requestState is Tollgate's, so it
		// is not forwarded (judgeCall sets Ruling.Fresh).
		return g.inlineRetry(ctx, h, c.RequestState, c.InputResponses)
	}
	return g.held(ctx, h)
}

// held asks the store what to do with a held call.
func (g *Gate) held(ctx context.Context, h *hold) proxy.Ruling {
	a := g.Approvals
	now := g.now()
	rec := approval.Record{ID: approval.NewID(), Fingerprint: h.fp, Tool: h.ev.Tool, Args: h.args, ArgsHash: h.argHash,
		Rule: h.d.Rule, Reason: h.d.Reason, PolicyRev: h.rev, Session: h.ev.Session, Identity: h.ev.Identity,
		CreatedAt: now, ExpiresAt: now.Add(h.cfg.Timeout)}
	// Only a signature by a key the policy in force lists makes an
	// approval good, checked before the store consumes it; the record's own
	// fingerprint is not trusted, the call's is. The record must also show
	// this call (what a person approved is what the record showed them) and
	// expire within the policy's timeout (a record made by a proxy does;
	// one whose expiry was pushed out in the store does not).
	verify := func(r approval.Record) error {
		if a.wasSpent(r.ID) {
			return errReplayed
		}
		if err := approval.CheckShown(r); err != nil {
			return fmt.Errorf("%w: %w", approval.ErrUnverified, err)
		}
		if err := approval.CheckExpiry(r, now, h.cfg.Timeout); err != nil {
			return fmt.Errorf("%w: %w", approval.ErrUnverified, err)
		}
		return approval.CheckDecision(h.cfg.Approvers, h.fp, r)
	}
	// A caller with approvals.max_pending requests outstanding makes no
	// new one: a flood of held calls must not bury the one that matters
	// under hundreds a person has to read, nor fill the store. The place is
	// claimed before the store is asked, so calls racing for it cannot
	// overrun the bound. An identical call still finds its own request
	// (shared, whatever dedupe_window says), so an approved one is consumed
	// and a denied one refused.
	key := holdsKey(h)
	dedupe := h.cfg.DedupeWindow
	var place string
	capped := h.cfg.MaxPending > 0
	if capped {
		var n int
		var known bool
		if place, n, known = a.claim(key, h.fp, h.cfg.MaxPending, now, rec.ExpiresAt); place == "" {
			if !known {
				return g.tooManyHeld(h, n)
			}
			dedupe = h.cfg.Timeout
		}
	}
	res, err := a.Store.Begin(ctx, approval.BeginRequest{New: rec, Now: now, Dedupe: dedupe, Verify: verify})
	if capped {
		if err == nil && res.Outcome == approval.Requested {
			a.fill(key, place, res.Record)
		} else {
			a.settle(key, place)
		}
	}
	if err != nil {
		return g.approvalStoreFailed(h, err)
	}
	for _, x := range res.Expired {
		g.record(approvalEvent(h.ev, event.ApprovalExpired, x, now))
	}
	for _, u := range res.Unverified {
		g.log().Warn("an approved record is not signed by a listed approver; not trusted", "approval_id", u.Record.ID, "err", u.Err)
		ev := approvalEvent(h.ev, event.ApprovalUnverified, u.Record, now)
		ev.Reason = u.Err.Error()
		g.record(ev)
	}
	r := res.Record
	switch res.Outcome {
	case approval.ConsumedNow:
		return g.approvedCall(ctx, h, r, now)
	case approval.Refused:
		return g.refused(h, r, now)
	case approval.Reused:
		g.record(approvalEvent(h.ev, event.ApprovalReused, r, now))
		return proxy.Ruling{Answer: pendingAnswer(h, r)}
	}
	g.record(approvalEvent(h.ev, event.ApprovalRequested, r, now))
	if a.Notifier != nil {
		a.Notifier.Notify(approval.NoticeFor(string(event.ApprovalRequested), r, now))
	}
	if h.cfg.Inline && h.session != nil && mcp.ParamsValue(h.session.ClientCapabilities(), "elicitation") != nil {
		// The stateless revision has no requests from Tollgate to the
		// client: it asks, as a server does, through an input_required
		// result, and the client's retry brings the answer.
		if mcp.Stateless(h.session.Version()) {
			if h.round != nil {
				return g.askRound(ctx, h, r)
			}
		} else {
			return g.inline(ctx, h, r)
		}
	}
	return proxy.Ruling{Answer: pendingAnswer(h, r)}
}

// tooManyHeld denies a held call whose caller has n requests waiting for a
// person already (approvals.max_pending); no request is made.
func (g *Gate) tooManyHeld(h *hold, n int) proxy.Ruling {
	reason := fmt.Sprintf("approval required by rule %s, but %d requests of this caller already wait for a person (approvals.max_pending): no new request was made; retry once those are decided or have expired", quote(h.d.Rule), n)
	ev := h.ev
	ev.Decision, ev.Reason = "deny", reason
	g.record(ev)
	return proxy.Ruling{Answer: denial(h.id, h.d.Rule, reason, 0)}
}

func (g *Gate) approvalStoreFailed(h *hold, err error) proxy.Ruling {
	g.log().Error("approval store failed; denying the held call", "tool", h.ev.Tool, "err", err)
	reason := "the approval store is unavailable, so this call that needs a person's approval was denied: " + err.Error()
	ev := h.ev
	ev.Decision, ev.Reason, ev.StateError = "deny", reason, err.Error()
	g.record(ev)
	return proxy.Ruling{Answer: denial(h.id, h.d.Rule, reason, 0)}
}

// refused answers a call identical to one a person denied.
func (g *Gate) refused(h *hold, r approval.Record, now time.Time) proxy.Ruling {
	g.Approvals.settle(holdsKey(h), r.ID)
	reason := fmt.Sprintf("a person (%s) denied approval %s for this exact call", orUnknown(r.Approver), r.ID)
	if r.Note != "" {
		reason += ": " + r.Note
	}
	ev := h.ev
	ev.Time, ev.Decision, ev.Reason, ev.ApprovalID, ev.Approver = now, "deny", reason, r.ID, r.Approver
	g.record(ev)
	return proxy.Ruling{Answer: mcp.AppendDenial(nil, h.id, "[POLICY DENIED] "+reason,
		mcp.Decision{Action: "deny", Rule: r.Rule, Reason: reason, ApprovalID: r.ID})}
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// approvedCall lets a call through on an approval it has consumed: it
// reserves the call's counters as any allowed call does (restoring the
// approval if they do not fit) and follows the call so that a failure
// restores the approval.
func (g *Gate) approvedCall(ctx context.Context, h *hold, r approval.Record, now time.Time) proxy.Ruling {
	g.Approvals.spend(r, now)
	g.Approvals.settle(holdsKey(h), r.ID)
	g.record(approvalEvent(h.ev, event.ApprovalConsumed, r, now))
	ev := h.ev
	ev.Decision, ev.ApprovalID, ev.Approver = "allow", r.ID, r.Approver
	var ruling proxy.Ruling
	if len(h.d.Charges) > 0 {
		ruling = g.admit(ctx, h.id, ev, h.d.Charges, false, denial)
		if ruling.Answer != nil {
			g.restore(h.ev, r)
			return ruling
		}
	} else {
		ruling = proxy.Ruling{Ticket: &ticket{g: g, ev: ev, start: now}}
	}
	if fr, ok := g.Recorder.(event.ForwardRecorder); ok {
		if t, ok := ruling.Ticket.(*ticket); ok {
			fr.Forwarded(t.ev)
		}
	}
	ruling.Ticket = &approvalTicket{g: g, inner: ruling.Ticket, base: h.ev, rec: r}
	return ruling
}

// restore gives a consumed approval back.
func (g *Gate) restore(base event.Event, r approval.Record) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Approvals.Store.Restore(ctx, r.ID); err != nil {
		g.log().Warn("approval store: restoring an approval failed", "approval_id", r.ID, "err", err)
		return
	}
	g.Approvals.unspend(r.ID)
	r.Status, r.ConsumedAt = approval.Approved, time.Time{}
	g.record(approvalEvent(base, event.ApprovalRestored, r, g.now()))
}

// approvalTicket gives the approval back only when Tollgate knows the server
// did not run the call (writing the request failed: End.Unsent), then
// finishes the call's own ticket. Once forwarded the approval is spent,
// whatever the server answers (an error result may follow side effects) and
// whether or not the client cancels.
type approvalTicket struct {
	g     *Gate
	inner proxy.Ticket
	base  event.Event
	rec   approval.Record
}

// FilterResult implements proxy.ResultFilter for the approved call.
func (t *approvalTicket) FilterResult(id, frame, result []byte) []byte {
	if f, ok := t.inner.(proxy.ResultFilter); ok {
		return f.FilterResult(id, frame, result)
	}
	return frame
}

func (t *approvalTicket) Done(e proxy.End) {
	if e.Unsent {
		t.g.restore(t.base, t.rec)
	}
	if t.inner != nil {
		t.inner.Done(e)
	}
}

// pendingAnswer is the answer to a call that waits for a person.
func pendingAnswer(h *hold, r approval.Record) []byte {
	reason := h.d.Reason
	if reason == "" {
		reason = "approval required by rule " + quote(r.Rule)
	}
	exp := r.ExpiresAt.UTC().Format(time.RFC3339)
	// It says to wait for a person, not how to approve: approving is the
	// person's act, not the agent's.
	instructions := fmt.Sprintf("[APPROVAL REQUIRED] %s. This call was not run. It waits for a person to approve this exact call "+
		"(approval %s, expires %s); do not try to approve it yourself. Once a person has approved it, "+
		"retry the identical call and it runs once.", reason, r.ID, exp)
	// -32003 is Intercept's code, in the range 2026-07-28 leaves to
	// earlier implementations only (basic/index#error-codes): a client of
	// that revision gets the tool result.
	if h.cfg.Response == "error" && (h.session == nil || !mcp.Stateless(h.session.Version())) {
		data := []byte(`{"approval_id":`)
		data = jsonrpc.AppendString(data, r.ID)
		data = append(data, `,"status":"pending","tool":`...)
		data = jsonrpc.AppendString(data, r.Tool)
		data = append(data, `,"rule":`...)
		data = jsonrpc.AppendString(data, r.Rule)
		data = append(data, `,"reason":`...)
		data = jsonrpc.AppendString(data, reason)
		data = append(data, `,"expires_at":`...)
		data = jsonrpc.AppendString(data, exp)
		data = append(data, `,"human_instructions":`...)
		data = jsonrpc.AppendString(data, instructions)
		data = append(data, '}')
		return jsonrpc.AppendError(nil, h.id, CodeApprovalRequired, "Approval required: "+reason, data)
	}
	return mcp.AppendDenial(nil, h.id, instructions,
		mcp.Decision{Action: "approval_required", Rule: r.Rule, Reason: reason, ApprovalID: r.ID, ExpiresAt: exp})
}

// inline asks the person at the MCP client, through elicitation/create,
// and holds the call until they answer, the wait ends or the approval
// expires. Accept approves and forwards the call; decline denies it; no
// answer leaves the approval pending and answers as for a pending call.
func (g *Gate) inline(ctx context.Context, h *hold, r approval.Record) proxy.Ruling {
	wait := g.Approvals.InlineWait
	if wait <= 0 {
		wait = DefaultInlineWait
	}
	if left := r.ExpiresAt.Sub(g.now()); left < wait {
		wait = left
	}
	askCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	result, rpcErr, err := h.session.Ask(askCtx, "elicitation/create", elicitParams(h, r))
	if err != nil || rpcErr != nil {
		g.log().Info("inline approval got no answer; the approval stays pending", "approval_id", r.ID, "err", err, "rpc_error", string(rpcErr))
		return proxy.Ruling{Answer: pendingAnswer(h, r)}
	}
	return g.inlineAnswer(ctx, h, r, result)
}

// inlineAnswer acts on the person's answer to an inline approval (an
// ElicitResult): accept approves the pending approval r and forwards the
// call on it; decline denies it; anything else leaves it pending.
func (g *Gate) inlineAnswer(ctx context.Context, h *hold, r approval.Record, result []byte) proxy.Ruling {
	who := "mcp-client"
	if h.ev.Identity != "" {
		who += ":" + h.ev.Identity
	} else if h.ev.Session != "" {
		who += ":session-" + h.ev.Session
	}
	now := g.now()
	switch mcp.ResultString(result, "action") {
	case "accept":
		d, err := g.Approvals.Store.Decide(ctx, r.ID, approval.Decision{Approve: true, Approver: who, Note: "approved in the MCP client", Now: now})
		if err == nil {
			g.record(approvalEvent(h.ev, event.ApprovalApproved, d, now))
		} else if !errors.Is(err, approval.ErrNotPending) {
			// Expired or the store failed: the call stays held.
			g.log().Warn("inline approval could not be recorded", "approval_id", r.ID, "err", err)
			if errors.Is(err, approval.ErrExpired) {
				g.record(approvalEvent(h.ev, event.ApprovalExpired, d, now))
			}
			return proxy.Ruling{Answer: pendingAnswer(h, r)}
		}
		c, err := g.Approvals.Store.Consume(ctx, r.ID, now)
		if err != nil {
			// Someone else decided it first (denied, or consumed by an
			// identical call).
			if c.Status == approval.Denied {
				return g.refused(h, c, now)
			}
			return proxy.Ruling{Answer: pendingAnswer(h, r)}
		}
		return g.approvedCall(ctx, h, c, now)
	case "decline":
		d, err := g.Approvals.Store.Decide(ctx, r.ID, approval.Decision{Approve: false, Approver: who, Note: "declined in the MCP client", Now: now})
		if err != nil && d.Status != approval.Denied {
			g.log().Warn("inline denial could not be recorded", "approval_id", r.ID, "err", err)
			return proxy.Ruling{Answer: pendingAnswer(h, r)}
		}
		if err == nil {
			g.record(approvalEvent(h.ev, event.ApprovalDenied, d, now))
		}
		return g.refused(h, d, now)
	}
	return proxy.Ruling{Answer: pendingAnswer(h, r)}
}

// elicitParams builds the elicitation/create params that show the person
// the tool, its arguments and the rule.
func elicitParams(h *hold, r approval.Record) []byte {
	var args bytes.Buffer
	if json.Indent(&args, []byte(r.Args), "", "  ") != nil {
		args.Reset()
		args.WriteString(r.Args)
	}
	msg := fmt.Sprintf("Tollgate holds a tool call for your approval.\n\nTool: %s\nArguments:\n%s\nRule: %s\nWhy: %s\nApproval: %s (expires %s)\n\n"+
		"Accept to run this call once now; decline to refuse it.",
		visible.Line(r.Tool), visible.Escape(args.String()), visible.Line(r.Rule), visible.Line(h.d.Reason), r.ID, r.ExpiresAt.UTC().Format(time.RFC3339))
	p := []byte(`{"message":`)
	p = jsonrpc.AppendString(p, msg)
	p = append(p, `,"requestedSchema":{"type":"object","properties":{}}}`...)
	return p
}
