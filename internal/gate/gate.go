// Package gate is Tollgate's proxy.Gate: it asks the compiled policy for a
// decision on each tools/call, reserves the call's counters in the state
// store, answers denials the way agents and programs can read, and commits
// or refunds counters when the server's answer arrives. The policy is held
// behind an atomic pointer so a reload swaps it between calls, never during
// one.
package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/calls"
	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/inspect"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/otel"
	"github.com/tollgate-mcp/tollgate/internal/pins"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// Gate implements proxy.Gate.
type Gate struct {
	policy atomic.Pointer[policy.Policy]
	// pinnedList is the last tools/list pins found clean (see HoldTools);
	// pinQueued the last one queued to be recorded off the answer's path.
	pinnedList atomic.Pointer[pinnedList]
	pinQueued  atomic.Pointer[pinnedList]
	pinq       pinQueue

	// Store holds counters; nil means a policy with stateful rules denies
	// those calls (a configuration error reported at start-up by the CLI).
	Store state.Store
	// FailOpen lets calls that need state through when the store fails.
	FailOpen bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// Recorder, when set, is told every decision.
	Recorder event.Recorder
	// AuditHealth, when set, reports why the audit trail is not recording
	// now (audit.Log.Writable); a policy with audit.required refuses every
	// call while it returns an error, or when it is not set.
	AuditHealth func() error
	// Monitor forces monitor mode for every rule (--mode monitor).
	Monitor bool
	// Approvals holds require_approval calls for a person (approval.go);
	// nil answers them with a denial saying approvals are not configured.
	Approvals *Approvals
	// Tracer, when set, traces each tools/call (trace.go); nil is tracing
	// off, at the cost of one nil check per call.
	Tracer *otel.Tracer
	// Pins, when set, records the server's tool definitions and holds
	// changed ones (pins.go); PinsDefault is the mode when the policy has
	// no pins key (zero: record).
	Pins        *pins.Guard
	PinsDefault pins.Mode
	// RoundTTL bounds how long a multi round-trip retry may follow its
	// interim result (rounds.go); zero means DefaultRoundTTL. TaskTTL
	// bounds how long a task stays visible (tasks.go); zero means
	// DefaultTaskTTL.
	RoundTTL, TaskTTL time.Duration
	// Calls, when set, keeps what the gate notes about the calls of
	// stateless (2026-07-28) sessions between their rounds — the retry an
	// interim result admits (rounds.go), Tollgate's own inline approval
	// question (inline_rounds.go), the task a call created (tasks.go) — in
	// a store the Tollgate processes on one state backend share, so that a
	// retry or a tasks/get a load balancer sends to another instance finds
	// them. nil keeps them in this process, as for every initialize-era
	// session always.
	Calls calls.Store

	rounds rounds // interim results waiting for their retry (rounds.go)
	tasks  tasks  // which call created each task (tasks.go)

	schemas sync.Map // tool name → []string (inputSchema.required)
	seen    sync.Map // tool name → struct{}: tools the server listed

	mu      sync.Mutex
	changed chan struct{} // closed when what tools/list shows changes
}

var _ proxy.Gate = (*Gate)(nil)

// New returns a gate enforcing p.
func New(p *policy.Policy) *Gate {
	g := &Gate{}
	g.policy.Store(p)
	return g
}

// Policy returns the policy in force.
func (g *Gate) Policy() *policy.Policy { return g.policy.Load() }

// SetPolicy swaps the policy in force; calls being judged finish under the
// policy they started with. When the new policy hides other tools, every
// session is told its tool list changed.
func (g *Gate) SetPolicy(p *policy.Policy) {
	old := g.policy.Swap(p)
	if old != nil && old.Visibility() == p.Visibility() {
		return
	}
	g.mu.Lock()
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
	g.mu.Unlock()
}

// ListChanged implements proxy.Gate.
func (g *Gate) ListChanged() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.changed == nil {
		g.changed = make(chan struct{})
	}
	return g.changed
}

func (g *Gate) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Gate) log() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}

// monitoring reports whether nothing is enforced: --mode monitor, or the
// policy's mode: monitor.
func (g *Gate) monitoring(p *policy.Policy) bool {
	return g.Monitor || p.Mode() == policy.Monitor
}

// Lists implements proxy.Gate. In monitor mode nothing is hidden.
func (g *Gate) Lists() (hidden func(string) bool, listed func(string, []byte)) {
	p := g.policy.Load()
	if p.HidesAny() && !g.monitoring(p) {
		hidden = p.Hidden
	}
	switch {
	case p.UsesSchemas():
		listed = g.Listed
	case p.DefaultDeny() || p.GovernsNames():
		listed = g.sawTool
	}
	return hidden, listed
}

// listed reports whether the server listed tool, exactly (noted only while
// the policy needs to know: see Lists).
func (g *Gate) listed(tool string) bool {
	_, ok := g.seen.Load(tool)
	return ok
}

// sawTool remembers that the server listed a tool. The first time, a
// tool whose name reads as a key of the policy without being it is logged:
// the policy's rules for that key do not apply to it (a key written in
// another case than the server's name, most likely).
func (g *Gate) sawTool(name string, _ []byte) {
	if _, ok := g.seen.Load(name); !ok {
		g.seen.Store(name, struct{}{})
		if key, _, ok := g.policy.Load().ReadsAs(name); ok {
			g.log().Warn("the server lists a tool whose name reads as a policy key but is not it: the key's rules do not apply to it; write the key as the server names the tool",
				"tool", name, "key", key)
		}
	}
}

// unseen reports whether a tool falls to default: deny and the server has
// never listed it: the client cannot tell it from a tool that does not
// exist, so it is answered as one.
func (g *Gate) unseen(p *policy.Policy, tool string) bool {
	if !p.DefaultDenies(tool) {
		return false
	}
	_, ok := g.seen.Load(tool)
	return !ok
}

// Refused implements proxy.Gate: the message is recorded as "invalid" with
// the reason, and, for a tools/call that was dropped, what the policy would
// have decided.
func (g *Gate) Refused(s *transport.Session, c *proxy.Call, reason string) {
	if g.Recorder == nil {
		return
	}
	p := g.policy.Load()
	ev := event.Event{Time: g.now(), Decision: "invalid", Reason: reason, PolicyRev: p.Revision()}
	if s != nil {
		ev.Session, ev.Identity = s.ID, s.Identity
	}
	if c != nil {
		ev.Tool, ev.Args = c.Tool, c.Args
		pc := policy.Call{Tool: c.Tool, Args: c.Args, Session: ev.Session, Identity: ev.Identity, Now: ev.Time, Listed: g.listed(c.Tool)}
		d := p.Decide(&pc)
		ev.Rule = d.Rule
		ev.Reason += "; had it been a call, the policy would have answered " + d.Action.String()
		if d.Reason != "" {
			ev.Reason += ": " + d.Reason
		}
	}
	g.record(ev)
}

// Listed remembers each tool's required arguments
// for validate: {required_args: true}.
func (g *Gate) Listed(name string, tool []byte) {
	g.sawTool(name, nil)
	req, _ := mcp.RequiredArgs(tool)
	if prev, ok := g.schemas.Load(name); ok && equalStrings(prev.([]string), req) {
		return
	}
	if req == nil {
		req = []string{}
	}
	g.schemas.Store(name, req)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Judge implements proxy.Gate. It blocks while the state store reserves
// the call's counters and while a person is asked inline for an approval.
func (g *Gate) Judge(ctx context.Context, c *proxy.Call) proxy.Ruling {
	if g.Tracer != nil {
		return g.judgeTraced(ctx, c)
	}
	return g.judgeCall(ctx, c)
}

// judgeCall is Judge without tracing.
func (g *Gate) judgeCall(ctx context.Context, c *proxy.Call) proxy.Ruling {
	if r, refused := g.auditRequired(c); refused {
		return r
	}
	if r, ok := g.retried(ctx, c); ok {
		return r
	}
	var in inspected
	r := g.judge(ctx, c, &in)
	if r.Answer == nil && !r.Unknown {
		r.Args, r.Meta = in.args, in.meta
		// A requestState of Tollgate's own (an inline question,
		// inline_rounds.go) was never the server's: it is not forwarded.
		r.Fresh = isInlineState(c.RequestState)
		if t := ticketOf(r.Ticket); t != nil {
			g.bindRound(t, c)
			if t.mayTask = mayCreateTask(c); t.mayTask && g.Recorder == nil {
				// A task the call may create keeps its arguments (tasks.go).
				t.ev.Args = append([]byte(nil), t.ev.Args...)
			}
			t.ev.Findings = in.found
			if in.policy != nil && (in.policy.Results != nil || in.policy.MaxResultBytes > 0) {
				t.results = in.policy
			}
		}
	}
	if fr, ok := g.Recorder.(event.ForwardRecorder); ok && r.Answer == nil {
		if t, ok := r.Ticket.(*ticket); ok {
			fr.Forwarded(t.ev)
		}
	}
	return r
}

// Waits implements proxy.Gate: judging a call may wait for a person when
// an approval rule applies to its tool, and on the store when a limit does
// and the store is not in memory. Whether the fast path is open is the
// store's property.
func (g *Gate) Waits(tool string) proxy.Wait {
	approval, counters := g.policy.Load().Needs(tool)
	switch {
	case approval:
		return proxy.WaitPerson
	case !counters || state.IsNonBlocking(g.Store):
		return proxy.WaitNone
	}
	return proxy.WaitStore
}

// inspected is what the policy's inspect did to a call's arguments.
type inspected struct {
	policy *policy.Inspection
	args   []byte   // the arguments to forward, when redacted
	meta   []byte   // the params._meta to forward, when redacted
	found  []string // what was found, for the audit trail
	clean  bool     // inspected, nothing found: Decide need not look again
}

func (g *Gate) judge(ctx context.Context, c *proxy.Call, in *inspected) proxy.Ruling {
	p := g.policy.Load()
	now := g.now()
	// A name that reads as another the policy governs is refused unless
	// the server listed it exactly, and answered as a hidden tool's would
	// be when it reads as one (policy.ReadsAs). Only such a name asks.
	_, readsHidden, reads := p.ReadsAs(c.Tool)
	listed := reads && g.listed(c.Tool)
	if !g.monitoring(p) {
		hidden := p.Hidden(c.Tool) || readsHidden && !listed
		if hidden || g.unseen(p, c.Tool) {
			reason := "tool is hidden by policy; answered as the server answers an unknown tool"
			if !hidden {
				reason = "tool is not permitted by policy (default: deny) and the server has not listed it; answered as the server answers an unknown tool"
			}
			g.record(event.Event{Time: now, Session: c.Session.ID, Identity: c.Session.Identity, Tool: c.Tool, Args: c.Args,
				Decision: "hidden", Reason: reason, PolicyRev: p.Revision()})
			return proxy.Ruling{Unknown: true}
		}
	}
	if r, held := g.pinHeld(c, p, now); held {
		return r
	}
	if in.policy = p.Inspection(c.Tool); in.policy != nil && in.policy.Arguments != nil {
		if r, denied := g.inspectMeta(c, p, in, now); denied {
			return r
		}
		// Redact what the policy redacts and note what was found; what it
		// denies, Decide denies (as explain and tollgate test show it).
		if out, found, err := inspectArgs(in.policy.Arguments, c.Args); err == nil {
			in.found, in.clean = append(in.found, found...), len(found) == 0
			if out != nil {
				in.args = out
				c = &proxy.Call{Session: c.Session, ID: c.ID, Tool: c.Tool, Args: out}
			}
		}
	}
	pc := policy.Call{Tool: c.Tool, Args: c.Args, Session: c.Session.ID, Identity: c.Session.Identity, Now: now, ArgsClean: in.clean, Listed: listed}
	if req, ok := g.schemas.Load(c.Tool); ok {
		pc.Required, pc.SchemaKnown = req.([]string), true
	}
	d := p.Decide(&pc)
	monitor := d.Monitor || g.Monitor
	ev := event.Event{Time: now, Session: c.Session.ID, Identity: c.Session.Identity, Tool: c.Tool, Args: c.Args,
		Decision: event.Decision(d.Action.String()), Rule: d.Rule, Reason: d.Reason, PolicyRev: p.Revision(), Findings: in.found}
	switch d.Action {
	case policy.Deny:
		if !monitor {
			g.record(ev)
			return proxy.Ruling{Answer: denial(c.ID, d.Rule, d.Reason, 0)}
		}
		ev.Monitor = true
		if d.Hidden {
			ev.Decision, ev.Reason = "hidden", d.Reason+"; forwarded in monitor mode"
		}
	case policy.RequireApproval:
		if !monitor {
			return g.requireApproval(ctx, c, p, d, ev)
		}
		ev.Monitor = true
	}
	if ev.Monitor {
		// Record what monitor mode let through (as admit does for a
		// monitored limit); the call's completion is recorded as allowed.
		g.record(ev)
		ev.Monitor = false
	}
	if len(d.Charges) == 0 {
		ev.Decision = "allow"
		if g.Recorder != nil {
			// The ticket outlives the frame Args aliases.
			ev.Args = append([]byte(nil), c.Args...)
		}
		t := &ticket{g: g, ev: ev, start: now}
		return proxy.Ruling{Ticket: t}
	}
	ev.Args = append([]byte(nil), c.Args...)
	return g.admit(ctx, c.ID, ev, d.Charges, monitor, denial)
}

// denyFunc builds the answer refusing a call (denial) or a request
// (requestRefusal): the rule and reason, and when known how long until a
// limit lets it through.
type denyFunc func(id []byte, rule, reason string, retry time.Duration) []byte

// admit reserves the call's counters, all or none; deny answers it when
// they have no room or the store fails closed.
func (g *Gate) admit(ctx context.Context, id []byte, ev event.Event, charges []policy.Charge, monitor bool, deny denyFunc) proxy.Ruling {
	ev.Counters = make([]string, len(charges))
	for i := range charges {
		ev.Counters[i] = charges[i].Name
		if ev.Counters[i] == "" {
			ev.Counters[i] = charges[i].Key.String()
		}
	}
	if g.Store == nil {
		err := errors.New("no state store configured")
		return g.storeFailed(id, ev, err, deny)
	}
	traced := g.traceReserve(ctx, len(charges))
	res, err := policy.Reserve(ctx, g.Store, ev.Time, charges)
	traced(res.Admitted, err)
	if err != nil {
		return g.storeFailed(id, ev, err, deny)
	}
	if !res.Admitted {
		ch := res.Denied
		if monitor || ch.Monitor {
			ev.Decision, ev.Rule, ev.Reason, ev.Monitor = "deny", ch.Rule, ch.Reason, true
			g.record(ev)
			ev.Decision, ev.Monitor = "allow", false
			return proxy.Ruling{Ticket: &ticket{g: g, ev: ev, start: ev.Time}}
		}
		ev.Decision, ev.Rule, ev.Reason = "deny", ch.Rule, ch.Reason
		g.record(ev)
		return proxy.Ruling{Answer: deny(id, ch.Rule, ch.Reason, res.RetryAfter)}
	}
	ev.Decision = "allow"
	t := &ticket{g: g, ev: ev, start: ev.Time, reservation: res.ID, refundable: res.Refundable}
	return proxy.Ruling{Ticket: t}
}

func (g *Gate) storeFailed(id []byte, ev event.Event, err error, deny denyFunc) proxy.Ruling {
	ev.StateError = err.Error()
	if g.FailOpen {
		g.log().Warn("state store failed; allowing the call (--state-fail-mode open)", "tool", ev.Tool, "err", err)
		ev.Decision, ev.Reason = "allow", "state store unavailable, allowed by --state-fail-mode open: "+err.Error()
		return proxy.Ruling{Ticket: &ticket{g: g, ev: ev, start: ev.Time}}
	}
	g.log().Error("state store failed; denying the call", "tool", ev.Tool, "err", err)
	reason := "the state store that enforces this tool's limits is unavailable; the call was denied (fail-closed): " + err.Error()
	ev.Decision, ev.Reason = "deny", reason
	g.record(ev)
	return proxy.Ruling{Answer: deny(id, "", reason, 0)}
}

func (g *Gate) record(ev event.Event) {
	if g.Recorder != nil {
		g.Recorder.Record(ev)
	}
}

// denial builds the response for a denied call.
func denial(id []byte, rule, reason string, retry time.Duration) []byte {
	text := "[POLICY DENIED] " + reason
	var ms int64
	if retry > 0 {
		ms = int64(math.Ceil(float64(retry) / float64(time.Millisecond)))
		text += fmt.Sprintf(" (limit resets in %s; retry after %d ms)", roundUp(retry), ms)
	}
	return mcp.AppendDenial(nil, id, text, mcp.Decision{Action: "deny", Rule: rule, Reason: reason, RetryAfterMS: ms})
}

func roundUp(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return (d + time.Second - 1).Truncate(time.Second)
}

func quote(s string) string { return "\"" + s + "\"" }

// ticket follows a forwarded call to commit or refund its counters.
type ticket struct {
	g           *Gate
	ev          event.Event
	start       time.Time
	reservation string
	refundable  bool
	mayTask     bool               // the call may create a task: see mayCreateTask
	results     *policy.Inspection // inspects the answer, when not nil
	round       *roundKey          // binds a multi round-trip retry (rounds.go)
	roundArgs   []byte             // the arguments as sent, hashed into round on input_required
}

// ticketOf returns the gate ticket a ruling's Ticket is or wraps.
func ticketOf(t proxy.Ticket) *ticket {
	switch t := t.(type) {
	case *ticket:
		return t
	case *approvalTicket:
		inner, _ := t.inner.(*ticket)
		return inner
	}
	return nil
}

// FilterResult implements proxy.ResultFilter: the policy's inspect of
// this tool's results, and its size cap.
func (t *ticket) FilterResult(id, frame, result []byte) []byte {
	if t.results == nil {
		return frame
	}
	out, found, withheld := inspectResult(t.results, id, frame, result, t.ev.Tool)
	t.ev.Findings = append(t.ev.Findings, found...)
	if withheld {
		t.ev.Rule = InspectRule
		t.ev.Reason = "the answer was withheld by the policy's inspect"
	}
	return out
}

func (t *ticket) Done(e proxy.End) {
	if e.InputRequired {
		t.interim(e.RequestState)
	}
	if e.TaskID != "" {
		t.taskCreated(e.TaskID)
	}
	result, rpcErr := e.Result, e.Error
	outcome := "ok"
	switch {
	case e.Unsent:
		outcome = "not_sent"
	case result == nil && rpcErr == nil:
		outcome = "no_response"
	case rpcErr != nil:
		outcome = "error"
	case t.refundable && mcp.IsErrorResult(result):
		outcome = "tool_error"
	}
	if e.Cancelled && outcome != "not_sent" {
		outcome = "cancelled"
	}
	if t.reservation != "" {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		// A failed call gives back what its rules refund on failure, unless
		// the client cancelled it: the server may have run it all the same.
		// A call that was never sent gives back the same.
		refund := outcome == "not_sent" || (t.refundable && (outcome == "error" || outcome == "tool_error"))
		// Bounded unless it waits on nothing: the deadline's timer costs
		// more than a commit that only forgets the reservation.
		if refund && !state.IsNonBlocking(t.g.Store) || !refund && !state.CommitsQuickly(t.g.Store) {
			ctx, cancel = context.WithTimeout(ctx, 5*time.Second)
		}
		var err error
		if refund {
			err = t.g.Store.Refund(ctx, t.reservation)
		} else {
			err = t.g.Store.Commit(ctx, t.reservation)
		}
		cancel()
		if err != nil {
			t.g.log().Warn("state store: finishing a reservation failed", "tool", t.ev.Tool, "err", err)
		}
	}
	t.ev.Outcome = outcome
	t.ev.Latency = t.g.now().Sub(t.start)
	t.g.record(t.ev)
}

// inspectMeta applies the arguments detectors of in.policy (the tool's
// inspect entry) to the call's params._meta, which reaches the server, and
// the tool's handler, beside its arguments: what the policy keeps out of
// the arguments it keeps out of _meta. A redacted _meta is kept in in.meta
// and what was found in in.found. A denied (or unreadable) one refuses the
// call, recorded with rule inspect, unless the policy only monitors.
func (g *Gate) inspectMeta(c *proxy.Call, p *policy.Policy, in *inspected, now time.Time) (proxy.Ruling, bool) {
	if len(c.Meta) == 0 {
		return proxy.Ruling{}, false
	}
	redacted, fs, err := in.policy.Arguments.Apply(c.Meta)
	var reason string
	for i := range fs {
		in.found = append(in.found, describe("params._meta", fs[i]))
		if fs[i].Action == inspect.Deny && reason == "" {
			reason = fmt.Sprintf("params._meta holds %s (%s), which the policy's inspect denies", fs[i].Detector, fs[i].Class)
		}
	}
	if err != nil {
		reason = "params._meta could not be inspected: " + err.Error()
	}
	if reason == "" {
		if len(fs) > 0 && !sameSlice(redacted, c.Meta) {
			in.meta = redacted
		}
		return proxy.Ruling{}, false
	}
	ev := event.Event{Time: now, Session: c.Session.ID, Identity: c.Session.Identity, Tool: c.Tool, Args: c.Args,
		Decision: event.Deny, Rule: InspectRule, Reason: reason, PolicyRev: p.Revision(), Findings: in.found}
	if g.monitoring(p) {
		ev.Monitor = true
		g.record(ev)
		return proxy.Ruling{}, false
	}
	g.record(ev)
	return proxy.Ruling{Answer: denial(c.ID, InspectRule, reason, 0)}, true
}

// AuditRule is the rule name of a call refused because the policy requires
// an audit trail (audit.required) that is not recording.
const AuditRule = "audit"

// auditRequired refuses a call, under a policy with audit.required (and
// not in monitor mode), while the audit trail cannot record it: nothing
// runs that is not on the record. The refusal is recorded too, and is
// lost with the rest until the trail records again; the next line that
// reaches the disk is a "lost" line that counts it.
func (g *Gate) auditRequired(c *proxy.Call) (proxy.Ruling, bool) {
	if answer := g.auditRefusal(c.Session, c.Tool, c.ID, c.Args, denial); answer != nil {
		return proxy.Ruling{Answer: answer}, true
	}
	return proxy.Ruling{}, false
}

// auditRefusal is auditRequired for a call or a request (tool, its
// method): nil when it may go on, else the answer deny builds, the
// refusal recorded (lost with the rest until the trail records again).
func (g *Gate) auditRefusal(s *transport.Session, tool string, id, args []byte, deny denyFunc) []byte {
	p := g.policy.Load()
	if !p.AuditRequired() || g.monitoring(p) {
		return nil
	}
	var err error
	if g.AuditHealth == nil {
		err = errors.New("this process keeps no audit trail")
	} else if err = g.AuditHealth(); err == nil {
		return nil
	}
	reason := "the audit trail cannot record calls now (" + err.Error() + "), and the policy requires it (audit.required): calls are refused until it records again"
	ev := event.Event{Time: g.now(), Tool: tool, Args: args, Decision: event.Deny, Rule: AuditRule, Reason: reason, PolicyRev: p.Revision()}
	if s != nil {
		ev.Session, ev.Identity = s.ID, s.Identity
	}
	g.record(ev)
	return deny(id, AuditRule, reason, 0)
}
