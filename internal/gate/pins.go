package gate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
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
	if m, err := pins.ParseMode(p.Pins()); err == nil {
		return m
	}
	if g.PinsDefault != 0 {
		return g.PinsDefault
	}
	return pins.Record
}

// HoldTools implements proxy.ListHolder: it records the list page and, under
// enforce, returns the tools to hold back.
func (g *Gate) HoldTools(s *transport.Session, result []byte) func(string) bool {
	p := g.policy.Load()
	mode := g.pinMode(p)
	if mode == pins.Off {
		return nil
	}
	var entries [][]byte
	tools, err := jsonrpc.ArrayMember(result, "tools", func(e []byte) error {
		entries = append(entries, e)
		return nil
	})
	if err != nil || tools == nil {
		return nil // not a list: the filter withholds what it cannot read
	}
	// The rest of the result, with the tools array emptied, is small: read
	// nextCursor there rather than walk the array twice.
	start := jsonrpc.Offset(result, tools)
	rest := make([]byte, 0, len(result)-len(tools)+2)
	rest = append(append(append(rest, result[:start]...), "[]"...), result[start+len(tools):]...)
	complete := true
	_ = jsonrpc.Members(rest, func(k string, v []byte) error {
		if k == "nextCursor" && string(v) != "null" && string(v) != `""` {
			complete = false
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), pinTimeout)
	defer cancel()
	vs, err := g.Pins.Observe(ctx, pins.Tool, entries, complete, p.Approvals().Approvers)
	if err != nil {
		g.log().Error("pins: the store failed while recording tools/list; holding what cannot be confirmed", "server", g.Pins.Server(), "mode", mode.String(), "err", err)
	}
	enforce := mode == pins.Enforce && !g.monitoring(p)
	var held map[string]bool
	for i := range vs {
		v := &vs[i]
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
	if held == nil {
		return nil
	}
	return func(name string) bool { return held[name] }
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
		reason = fmt.Sprintf("tool %q was recorded on first use, and its definition carries poisoning markers", v.Name)
	case enforce:
		reason += "; held: removed from tools/list, calls denied"
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
	reason := v.Reason
	if !ok {
		reason = fmt.Sprintf("tool %q has no approved definition on record for this server: list the tools first, or have a person approve it (tollgate pins)", c.Tool)
	}
	text := fmt.Sprintf("tool %q is held for review: %s", c.Tool, reason)
	g.record(event.Event{Time: now, Session: c.Session.ID, Identity: c.Session.Identity, Tool: c.Tool, Args: c.Args,
		Decision: event.Deny, Rule: PinRule, Reason: text, PolicyRev: p.Revision()})
	return proxy.Ruling{Answer: denial(c.ID, PinRule, text, 0)}, true
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
