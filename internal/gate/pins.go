package gate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/pins"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// Pinned tool definitions (rug pulls): every tools/list the server answers
// is recorded by the Guard in Gate.Pins; under enforce a tool whose
// definition is not the approved one is removed from the list and a call to
// it is denied (rule "pin"), until a person approves the change.
//
// A held tool is denied with a message rather than answered as an unknown
// tool (as a hidden tool is): hiding exists so that a client cannot learn
// what the operator keeps from it, while a held tool is one the client may
// well have listed before the change; "no such tool" would send the model
// looking for a fault that is not there. The denial tells the model a
// person must review the tool, not how to approve it.

// PinRule is the rule name of a call denied, and of a change flagged, by pins.
const PinRule = "pin"

// pinTimeout bounds the store's work for one tools/list.
const pinTimeout = 5 * time.Second

var _ proxy.ListHolder = (*Gate)(nil)

// pinMode is the pins mode in force: the policy's, else the command's
// default, else record.
func (g *Gate) pinMode(p *policy.Policy) pins.Mode {
	if g.Pins == nil {
		return pins.Off
	}
	if m, ok := pins.ModeOf(p.Pins()); ok {
		return m
	}
	if g.PinsDefault != 0 {
		return g.PinsDefault
	}
	return pins.Record
}

// HoldsTools implements proxy.ListHolder: pins are not off.
func (g *Gate) HoldsTools() bool { return g.pinMode(g.policy.Load()) != pins.Off }

// HoldTools implements proxy.ListHolder: it records the list page and, under
// enforce, returns the tools to hold back.
func (g *Gate) HoldTools(s *transport.Session, result []byte, list *mcp.ToolList) func(string) bool {
	if list.Start < 0 {
		return nil // not a list: nothing to record
	}
	// The steady state: the same list (the pump read it from equal bytes)
	// under the same policy, and the guard has learnt nothing since it
	// found every tool of it approved: it would find the same again.
	p := g.policy.Load()
	gen := g.Pins.Generation()
	key := pinnedList{list: list, policy: p, gen: gen}
	if c := g.pinnedList.Load(); c != nil && *c == key {
		return nil
	}
	if !g.enforcing(p) {
		// Nothing can be held: record the list off the answer's path, once
		// while the same list waits or is being recorded.
		if q := g.pinQueued.Load(); q != nil && *q == key {
			return nil
		}
		g.pinQueued.Store(&key)
		buf := append([]byte(nil), result...) // the pump reuses result's bytes
		g.later(func() {
			if _, clean := g.observe(s, pins.Tool, list.Defs(buf), list.Complete); clean {
				g.pinnedList.Store(&key)
			}
		})
		return nil
	}
	g.drainPins()
	held, clean := g.observe(s, pins.Tool, list.Defs(result), list.Complete)
	if clean {
		g.pinnedList.Store(&key)
	}
	if held == nil {
		return nil
	}
	return func(name string) bool { return held[name] }
}

// filterPinnedList records a prompts/list, resources/list or
// resources/templates/list page and, under enforce, removes the prompts,
// resources or resource templates pins hold (each named as
// pins.Kind.NameMember says: a resource by its uri, a template by its
// uriTemplate). An answer it cannot read passes as it is: unlike a tool
// list, these lists carry nothing the policy hides.
func (g *Gate) filterPinnedList(s *transport.Session, method string, frame, result []byte) []byte {
	kind, member := pins.Prompt, "prompts"
	switch method {
	case mcp.MethodResourcesList:
		kind, member = pins.Resource, "resources"
	case mcp.MethodTemplatesList:
		kind, member = pins.Template, "resourceTemplates"
	}
	nameKey := kind.NameMember()
	held, span := g.holdList(s, kind, member, result)
	if held == nil {
		return frame
	}
	var kept [][]byte
	_ = jsonrpc.Elements(span, func(e []byte) error {
		var name string
		_ = jsonrpc.Members(e, func(k string, v []byte) error {
			if k == nameKey && name == "" {
				name, _ = jsonrpc.Unquote(v)
			}
			return nil
		})
		if !held[name] {
			kept = append(kept, e)
		}
		return nil
	})
	start := jsonrpc.Offset(frame, span)
	out := make([]byte, 0, len(frame))
	out = append(out, frame[:start]...)
	out = append(out, '[')
	for i, e := range kept {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	out = append(out, ']')
	out = append(out, frame[start+len(span):]...)
	var version string
	if s != nil {
		version = s.Version()
	}
	return mcp.PrivateScope(out, mcp.Stateless(version))
}

// holdList records one page of a prompts, resources or resource templates
// list (the array under member) and, under enforce, returns the names to
// hold back (nil: none) and the array's span.
func (g *Gate) holdList(s *transport.Session, kind pins.Kind, member string, result []byte) (map[string]bool, []byte) {
	p := g.policy.Load()
	if g.pinMode(p) == pins.Off {
		return nil, nil
	}
	if !g.enforcing(p) {
		buf := append([]byte(nil), result...)
		g.later(func() { g.readList(s, kind, member, buf) })
		return nil, nil
	}
	g.drainPins()
	return g.readList(s, kind, member, result)
}

// readList is holdList once it is known pins are on.
func (g *Gate) readList(s *transport.Session, kind pins.Kind, member string, result []byte) (map[string]bool, []byte) {
	var entries [][]byte
	span, err := jsonrpc.ArrayMember(result, member, func(e []byte) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil || span == nil {
		return nil, nil // not a list: the filter withholds what it cannot read
	}
	// The rest of the result, with the array emptied, is small: read
	// nextCursor there rather than walk the array twice.
	start := jsonrpc.Offset(result, span)
	rest := make([]byte, 0, len(result)-len(span)+2)
	rest = append(append(append(rest, result[:start]...), "[]"...), result[start+len(span):]...)
	complete := true
	_ = jsonrpc.Members(rest, func(k string, v []byte) error {
		if k == "nextCursor" && string(v) != "null" && string(v) != `""` {
			complete = false
		}
		return nil
	})
	held, _ := g.observe(s, kind, entries, complete)
	return held, span
}

// pinnedList is the last tools/list HoldTools found clean: every tool
// approved, nothing held, fresh or unconfirmed.
type pinnedList struct {
	list   *mcp.ToolList
	policy *policy.Policy
	gen    uint64 // the guard's Generation before the observation
}

// enforcing reports whether pins may hold something under p: enforce, and
// not monitoring.
func (g *Gate) enforcing(p *policy.Policy) bool {
	return g.pinMode(p) == pins.Enforce && !g.monitoring(p)
}

// later runs job on the gate's pin queue, off the caller's path; when the
// queue is full it waits for it to drain (drainPins) and runs job itself.
func (g *Gate) later(job func()) {
	if !g.pinq.add(job) {
		g.drainPins()
		job()
	}
}

// drainPins waits (at most pinTimeout) for the lists queued to be
// recorded before a list observed now, so that an older list is never
// recorded after a newer one (a full queue, or a policy that turned pins
// from record to enforce).
func (g *Gate) drainPins() {
	if !g.pinq.busy() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), pinTimeout)
	_ = g.pinq.wait(ctx)
	cancel()
}

// observe records one page of a list of kind (its raw entries; complete
// when it is the last page) and, under enforce, returns the names to hold
// back (nil: none). clean reports that every entry was found approved,
// with nothing held, fresh or unconfirmed.
func (g *Gate) observe(s *transport.Session, kind pins.Kind, entries [][]byte, complete bool) (held map[string]bool, clean bool) {
	p := g.policy.Load()
	mode := g.pinMode(p)
	if mode == pins.Off {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), pinTimeout)
	defer cancel()
	vs, err := g.Pins.Observe(ctx, kind, entries, complete, p.Approvals().Approvers)
	if err != nil {
		g.log().Error("pins: the store failed while recording a list; holding what cannot be confirmed", "server", g.Pins.Server(), "kind", string(kind), "mode", mode.String(), "err", err)
	}
	enforce := g.enforcing(p)
	clean = err == nil
	for i := range vs {
		v := &vs[i]
		if v.Held || v.Fresh || v.Status != pins.Approved || v.StoreError != nil {
			clean = false
		}
		if v.Held && enforce {
			if held == nil {
				held = map[string]bool{}
			}
			held[v.Name] = true
		}
		if v.Fresh {
			g.pinEvent(s, p, v, enforce)
		}
	}
	return held, clean
}

// pinEvent records and logs a change first seen (or a definition recorded
// on first use that carries poisoning markers).
func (g *Gate) pinEvent(s *transport.Session, p *policy.Policy, v *pins.Verdict, enforce bool) {
	var flags []string
	for _, f := range v.Flags {
		flags = append(flags, "poisoning "+f.String())
	}
	reason := v.Reason
	switch {
	case v.FirstUse && len(flags) == 0:
		return // the ordinary first record: nothing to flag
	case v.FirstUse:
		reason = fmt.Sprintf("%s %q was recorded on first use, and its definition carries poisoning markers", v.Kind, v.Name)
	case enforce && v.Kind == pins.Tool:
		reason += "; held: removed from tools/list, calls denied"
	case enforce && v.Kind == pins.Template:
		// Its resources are not refused: a URI does not say which
		// template it was expanded from (docs/pins.md, Limits).
		reason += "; held: removed from " + mcp.MethodTemplatesList
	case enforce:
		reason += "; held: removed from " + string(v.Kind) + "s/list"
	default:
		reason += "; recorded only (pins: record), not held"
	}
	ev := event.Event{Time: g.now(), Tool: v.Name, Decision: "pin", Rule: PinRule, Reason: reason,
		Monitor: !enforce, PolicyRev: p.Revision(), Findings: flags}
	if s != nil {
		ev.Session, ev.Identity = s.ID, s.Identity
	}
	g.record(ev)
	g.log().Warn("pins: "+reason, "server", g.Pins.Server(), "tool", v.Name, "status", string(v.Status), "hash", v.Hash,
		"flags", strings.Join(flags, "; "))
}

// pinHeld denies a call to a tool pins hold, under enforce.
func (g *Gate) pinHeld(c *proxy.Call, p *policy.Policy, now time.Time) (proxy.Ruling, bool) {
	if g.pinMode(p) != pins.Enforce || g.monitoring(p) {
		return proxy.Ruling{}, false
	}
	v, ok := g.Pins.Check(pins.Tool, c.Tool)
	if ok && !v.Held {
		return proxy.Ruling{}, false
	}
	if !ok {
		// No list has shown this tool: to the client it is a tool that does
		// not exist, answered as the server answers one. Answering "held"
		// here would tell hidden tools (answered as unknown) from missing
		// ones, which a client could probe name by name.
		g.record(event.Event{Time: now, Session: c.Session.ID, Identity: c.Session.Identity, Tool: c.Tool, Args: c.Args,
			Decision: "hidden", Rule: PinRule, PolicyRev: p.Revision(),
			Reason: "pins: enforce and no list has shown this tool with an approved definition; answered as the server answers an unknown tool"})
		return proxy.Ruling{Unknown: true}, true
	}
	text := fmt.Sprintf("tool %q is held for review: %s", c.Tool, v.Reason)
	g.record(event.Event{Time: now, Session: c.Session.ID, Identity: c.Session.Identity, Tool: c.Tool, Args: c.Args,
		Decision: event.Deny, Rule: PinRule, Reason: text, PolicyRev: p.Revision()})
	return proxy.Ruling{Answer: denial(c.ID, PinRule, text, 0)}, true
}

var _ proxy.ReadHolder = (*Gate)(nil)

// HeldRead implements proxy.ReadHolder: under enforce, a prompts/get of a
// prompt, or a resources/read of a resource, that pins hold is refused, as
// a call to a held tool is: the list no longer shows it, and a client that
// knows its name must not fetch the changed definition either. A prompt
// or resource no list has shown (a resource read through a template, say)
// is not refused: pins judge only what the server listed, but a name no
// list showed that reads as a held one (Review for review) is refused, as
// a server reading names loosely would serve the held one. Params that
// name it ambiguously (a second name, or Name beside name) are refused too,
// as the server may read the held one. A held resource template is only
// removed from its list: which template a URI was expanded from is the
// server's to say (RFC 6570 expansions overlap, and a server may serve
// URIs no template of its list names), so reads through it pass.
func (g *Gate) HeldRead(s *transport.Session, method string, params []byte) (string, bool) {
	p := g.policy.Load()
	if g.Pins == nil || !g.enforcing(p) {
		return "", false
	}
	kind, member := pins.Prompt, "name"
	if method == mcp.MethodResourcesRead {
		kind, member = pins.Resource, "uri"
	}
	name, _ := jsonrpc.Unquote(mcp.ParamsValue(params, member))
	var text string
	if err := jsonrpc.CheckUnambiguous(params); err != nil {
		text = fmt.Sprintf("the %s request names its %s ambiguously (%v), so it cannot be told from a held one", method, kind, err)
	} else if v, ok := g.Pins.Check(kind, name); ok {
		if !v.Held {
			return "", false
		}
		text = fmt.Sprintf("%s %q is held for review: %s", kind, name, v.Reason)
	} else if v, like := g.Pins.HeldAs(kind, name); like {
		// Not listed itself, but a loose reading of the name is the held one.
		text = fmt.Sprintf("%s %q reads as %s %q, which is held for review: %s", kind, name, kind, v.Name, v.Reason)
	} else {
		return "", false
	}
	ev := event.Event{Time: g.now(), Tool: method, Decision: event.Deny, Rule: PinRule, Reason: text, PolicyRev: p.Revision()}
	if s != nil {
		ev.Session, ev.Identity = s.ID, s.Identity
	}
	g.record(ev)
	return text, true
}

// PinApproved tells every session that what tools/list shows changed: a
// person approved a held definition (admin API), which the next list shows.
func (g *Gate) PinApproved(pins.Pin) {
	g.mu.Lock()
	if g.changed != nil {
		close(g.changed)
		g.changed = nil
	}
	g.mu.Unlock()
}
