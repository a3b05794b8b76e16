package policy

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/fold"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// Decide returns the policy's decision for c. The order is: hidden →
// default deny → deny rules → argument checks (conditions and validate) →
// approval rules → charges. Deny beats approval beats allow. Decide never
// fails: malformed arguments, when a rule needs them, deny the call.
//
// A rule in monitor mode never decides on its own: its would-be outcome is
// reported (Monitor: true) only when no enforcing rule denies or asks for
// approval. In a monitor-mode policy every non-allow decision is Monitor.
func (p *Policy) Decide(c *Call) Decision {
	return p.eval(c, nil)
}

// Explain returns the same decision as Decide together with every step
// considered, for `tollgate explain`.
func (p *Policy) Explain(c *Call) (Decision, []Step) {
	var steps []Step
	d := p.eval(c, &steps)
	return d, steps
}

func (p *Policy) eval(c *Call, tr *[]Step) Decision {
	d := p.decide(c, tr)
	if p.mode == Monitor && d.Action != Allow {
		d.Monitor = true
	}
	if p.mode == Monitor {
		for i := range d.Charges {
			d.Charges[i].Monitor = true
		}
	}
	return d
}

func (p *Policy) decide(c *Call, tr *[]Step) Decision {
	if p.Hidden(c.Tool) {
		trace(tr, Step{Kind: "hidden", Held: true, Note: "tool is on the hide list"})
		return Decision{Action: Deny, Hidden: true, Reason: fmt.Sprintf("tool %q is hidden by policy", c.Tool)}
	}
	if !c.Listed {
		if key, hidden, ok := p.ReadsAs(c.Tool); ok {
			if hidden {
				trace(tr, Step{Kind: "hidden", Held: true, Note: fmt.Sprintf("the name reads as %q, which is on the hide list", key)})
				return Decision{Action: Deny, Hidden: true, Reason: fmt.Sprintf("tool %q is hidden by policy", c.Tool)}
			}
			trace(tr, Step{Kind: "name", Held: true, Note: fmt.Sprintf("the name reads as %q, which the policy governs, and the server has not listed it", key)})
			return Decision{Action: Deny, Reason: misreadReason(c.Tool, key)}
		}
	}
	if d, denied := p.inspectArgs(c, tr); denied {
		return d
	}
	pl := p.planFor(c.Tool)
	if p.defaultDeny && !pl.listed {
		trace(tr, Step{Kind: "default", Held: true, Note: "default: deny and no tools key matches"})
		return Decision{Action: Deny, Reason: fmt.Sprintf("tool %q is not permitted by policy", c.Tool)}
	}
	if tr != nil && pl.key != "" {
		trace(tr, Step{Kind: "default", Note: fmt.Sprintf("tools key %q matches", pl.key)})
	}
	return p.decideRules(pl, c, tr)
}

// decideRules is what the rules of pl decide on c: deny rules, argument
// checks, approval rules, charges.
func (p *Policy) decideRules(pl *plan, c *Call, tr *[]Step) Decision {
	var args map[string]any
	if pl.needsArgs {
		var err error
		if args, err = decodeArgs(c.Args); err != nil {
			trace(tr, Step{Kind: "condition", Held: false, Note: err.Error()})
			return Decision{Action: Deny, Reason: "cannot check arguments: " + err.Error()}
		}
	}

	// A monitored outcome is remembered and reported only if nothing
	// enforced decides.
	var monitored *Decision

	for _, r := range pl.denies {
		if !r.allHold(args, tr, "deny") {
			continue
		}
		d := Decision{Action: Deny, Rule: r.name, Reason: r.reasonOr(fmt.Sprintf("denied by rule %q", r.name))}
		d.Reason = r.withReading(d.Reason, args)
		if !r.monitor {
			return d
		}
		if monitored == nil {
			d.Monitor = true
			monitored = &d
		}
	}

	for _, r := range pl.checks {
		if why, ok := r.check(c, args, tr); !ok {
			d := Decision{Action: Deny, Rule: r.name, Reason: r.reasonOr(why)}
			if !r.monitor {
				return d
			}
			if monitored == nil {
				d.Monitor = true
				monitored = &d
			}
		}
	}

	action, rule, reason := Allow, "", ""
	for _, r := range pl.approvals {
		if !r.allHold(args, tr, "approval") {
			continue
		}
		if r.monitor {
			if monitored == nil {
				monitored = &Decision{Action: RequireApproval, Rule: r.name, Monitor: true,
					Reason: r.reasonOr(fmt.Sprintf("approval required by rule %q", r.name))}
			}
			continue
		}
		action, rule, reason = RequireApproval, r.name, r.reasonOr(fmt.Sprintf("approval required by rule %q", r.name))
		reason = r.withReading(reason, args)
		break
	}

	var charges []Charge
	if len(pl.charges) > 0 {
		charges = make([]Charge, 0, len(pl.charges))
	}
	for _, r := range pl.charges {
		ch, skip, why, err := r.charge.build(c, args)
		if err != nil {
			trace(tr, Step{Kind: "charge", Rule: r.name, Note: err.Error()})
			d := Decision{Action: Deny, Rule: r.name, Reason: fmt.Sprintf("rule %q: %v", r.name, err)}
			if !r.monitor {
				return d
			}
			if monitored == nil {
				d.Monitor = true
				monitored = &d
			}
			continue
		}
		if skip {
			trace(tr, Step{Kind: "charge", Rule: r.name, Note: "amount is zero: nothing to reserve"})
			continue
		}
		if tr != nil {
			note := fmt.Sprintf("reserve %s on %s (%s, window %s)", ch.Amount.Text('f'), ch.Key, r.charge.desc, ch.Window)
			if why != "" {
				note += "; " + why
			}
			trace(tr, Step{Kind: "charge", Rule: r.name, Held: true, Note: note})
		}
		charges = append(charges, Charge{Charge: ch, Name: r.charge.name(&ch.Key), Rule: r.name, Reason: r.charge.reason,
			RefundOnFailure: r.charge.refund, Monitor: r.monitor})
	}

	if action == Allow && monitored != nil {
		monitored.Charges = charges
		return *monitored
	}
	return Decision{Action: action, Rule: rule, Reason: reason, Charges: charges}
}

func trace(tr *[]Step, s Step) {
	if tr != nil {
		*tr = append(*tr, s)
	}
}

func (r *rule) reasonOr(def string) string {
	if r.reason != "" {
		return r.reason
	}
	return def
}

// allHold reports whether a deny or approval rule fires: every condition
// holds or cannot be judged (a missing or mistyped argument fails closed),
// and a rule without conditions always fires.
func (r *rule) allHold(args map[string]any, tr *[]Step, kind string) bool {
	held := true
	for _, c := range r.conds {
		ok := c.fires(args)
		if tr != nil {
			*tr = append(*tr, c.step(r.name, args, ok, modeAny))
		}
		if !ok {
			held = false
			if tr == nil {
				break
			}
		}
	}
	trace(tr, Step{Kind: kind, Rule: r.name, Held: held})
	return held
}

// check runs an evaluate rule's argument checks; it returns the default
// reason for the first failure.
func (r *rule) check(call *Call, args map[string]any, tr *[]Step) (string, bool) {
	if r.validate {
		if !call.SchemaKnown {
			trace(tr, Step{Kind: "validate", Rule: r.name, Note: "tool schema unknown"})
			return fmt.Sprintf("cannot check required arguments of %q: its schema is unknown (tools/list not seen)", call.Tool), false
		}
		for _, req := range call.Required {
			if _, ok := args[req]; !ok {
				trace(tr, Step{Kind: "validate", Rule: r.name, Note: fmt.Sprintf("missing required argument %q", req)})
				return fmt.Sprintf("missing required argument %q", req), false
			}
		}
		trace(tr, Step{Kind: "validate", Rule: r.name, Held: true})
	}
	for _, c := range r.conds {
		ok := c.holds(args)
		if tr != nil {
			*tr = append(*tr, c.step(r.name, args, ok, modeAll))
		}
		if !ok {
			return fmt.Sprintf("denied by rule %q: %s", r.name, c.failure(args)), false
		}
	}
	return "", true
}

// failure describes why c failed, without echoing argument values (they
// are the agent's input and may be large or hostile).
func (c *condition) failure(args map[string]any) string {
	if !c.path.wildcard {
		v, ok := lookup(args, c.path.segs)
		switch {
		case !ok && c.op != opExists:
			return c.path.text + " is missing"
		case ok && (c.op == opLt || c.op == opLte || c.op == opGt || c.op == opGte) && !isNumber(v):
			return c.path.text + " is not a number"
		}
	}
	msg := fmt.Sprintf("%s %s %s does not hold", c.path.text, c.opName, jsonText(c.value))
	if why := c.reading(args, modeAll); why != "" {
		msg += " (" + why + ")"
	}
	return msg
}

// withReading adds to a fired deny or approval rule's reason which reading
// of a number made it fire, when the exact reading alone would not have.
func (r *rule) withReading(reason string, args map[string]any) string {
	for _, c := range r.conds {
		if why := c.reading(args, modeAny); why != "" {
			return reason + " (" + why + ")"
		}
	}
	return reason
}

// reading explains, when a reading other than the exact one decided c
// under m, which one: e.g. `args.amount = "1e3" read as the number 1000`.
// It returns "" when the exact reading alone gives the same result.
func (c *condition) reading(args map[string]any, m mode) string {
	some := m == modeAny
	got, exact := c.eval(args, m, some), c.eval(args, modeExact, some)
	if got == exact || m == modeAny && (got == no) == (exact == no) {
		return ""
	}
	var vals []any
	if !collect(args, c.path.segs, &vals) {
		return ""
	}
	for _, v := range vals {
		if c.test(v, m) == c.test(v, modeExact) {
			continue
		}
		if why := c.otherReading(v, m); why != "" {
			return why
		}
		var r numReadings
		if !readNumber(v, &r) {
			return "a number inside " + c.path.text + " read as a double or a numeric string"
		}
		// The reading that decided is one that, taken as an exact number,
		// gives the result the exact reading did not.
		base := c.test(v, modeExact)
		first := ""
		for i := range r.count() {
			nv, kind := r.at(i)
			if kind == readExact {
				continue
			}
			why := describeReading(c.path.text, v, kind, nv)
			if first == "" {
				first = why
			}
			if nv.class == finite && c.test(json.Number(nv.d.Text('g')), modeExact) != base {
				return why
			}
		}
		return first
	}
	return ""
}

// otherReading explains a reading of v other than a number's that decided
// c under m: the JSON a string spells, or a boolean a value reads as. It
// returns "" when a number's reading decided.
func (c *condition) otherReading(v any, m mode) string {
	if c.testValue(v, m) == c.testValue(v, modeExact) {
		if s, ok := v.(string); ok {
			if _, state := jsonReading(s); state == jsonAmbiguous {
				return c.path.text + " = " + truncate(jsonText(v), 60) + " is JSON text that servers read differently"
			}
			return c.path.text + " = " + truncate(jsonText(v), 60) + " read as the JSON it spells"
		}
	}
	if c.op == opPathWithin {
		if s, ok := v.(string); ok {
			readings, _ := pathReadings(s, nil)
			for _, r := range readings {
				if r == s || !pathWithin(r, c.dirs) {
					continue
				}
				if _, _, isURI := fileURIPath(s); isURI {
					return c.path.text + " = " + truncate(jsonText(v), 60) + " read as the path of a file: URI (" + truncate(r, 60) + "), as a server that opens it reads it"
				}
				return c.path.text + " = " + truncate(jsonText(v), 60) + " read with its percent-escapes decoded (" + truncate(r, 60) + "), as a server that decodes a file: URI or a URL path reads it"
			}
		}
		return c.path.text + " = " + truncate(jsonText(v), 60) + " read without regard to case, as macOS and Windows file systems read paths"
	}
	want := c.list
	if c.op != opIn && c.op != opNotIn {
		want = []any{c.value}
	}
	vals := []any{v}
	if a, ok := v.([]any); ok && c.op == opContains {
		vals = a
	}
	for _, v := range vals {
		for _, w := range want {
			if why := boolWhy(c.path.text, v, w); why != "" {
				return why
			}
			if why := textWhy(c.op, c.path.text, v, w); why != "" {
				return why
			}
		}
	}
	return ""
}

// textWhy explains v, a string, reading as w as a server that ignores
// case, spaces or control characters reads it.
func textWhy(op opKind, path string, v, w any) string {
	vs, ok1 := v.(string)
	ws, ok2 := w.(string)
	if !ok1 || !ok2 || vs == ws {
		return ""
	}
	switch op {
	case opStartsWith:
		ok1 = !strings.HasPrefix(vs, ws) && fold.HasPrefix(vs, ws)
	case opContains:
		ok1 = !strings.Contains(vs, ws) && fold.Contains(vs, ws)
	default:
		ok1 = fold.Equal(vs, ws)
	}
	if !ok1 {
		return ""
	}
	return path + " = " + truncate(jsonText(vs), 60) + " read as " + truncate(jsonText(ws), 60) +
		" reads, as a server that ignores case, surrounding spaces, control characters or compatibility forms (NFKC) does"
}

// boolWhy explains v reading as the boolean w, or w (a spelling) reading
// as the boolean v.
func boolWhy(path string, v, w any) string {
	_, vb := v.(bool)
	_, wb := w.(bool)
	if vb == wb {
		return ""
	}
	if eq, _ := boolEqual(v, w); !eq {
		return ""
	}
	if wb {
		return describeBool(path, v, w.(bool))
	}
	return path + " = " + jsonText(v) + " read as " + truncate(jsonText(w), 60)
}

func (c *condition) step(rule string, args map[string]any, ok bool, m mode) Step {
	s := Step{Kind: "condition", Rule: rule, Path: c.path.text, Op: c.opName, Expected: jsonText(c.value), Held: ok}
	if c.path.wildcard {
		var vals []any
		if collect(args, c.path.segs, &vals) {
			s.Value = jsonText(vals)
		} else {
			s.Note = "path not found"
		}
	} else if v, found := lookup(args, c.path.segs); found {
		s.Value = jsonText(v)
	} else {
		s.Note = "path not found"
	}
	if c.eval(args, m, m == modeAny) == unknown {
		s.Note = strings.TrimPrefix(s.Note+"; cannot be judged (missing or wrong type)", "; ")
	}
	if why := c.reading(args, m); why != "" {
		s.Note = strings.TrimPrefix(s.Note+"; "+why, "; ")
	}
	return s
}

// build computes the state.Charge for one call. skip is true for a zero
// amount (nothing to reserve).
//
// why, when not empty, says which reading of an increment_from amount was
// charged (it was not the exact JSON number).
// name is key's name (key.String()); a global counter's is made once, at
// compile time.
func (ch *chargeSpec) name(key *state.Key) string {
	if ch.per == perGlobal {
		return ch.global
	}
	return key.String()
}

func (ch *chargeSpec) build(c *Call, args map[string]any) (out state.Charge, skip bool, why string, err error) {
	out = state.Charge{
		Key:      state.Key{Scope: ch.scope, Counter: ch.counter, Who: "global"},
		Window:   ch.window,
		Align:    ch.align,
		Location: ch.loc,
		Strict:   ch.strict,
		// A call that failed still counts against a rate limit, but spend
		// that did not happen is given back.
		KeepOnRefund: !ch.refund,
	}
	switch ch.per {
	case perSession:
		out.Key.Who = "session:" + c.Session
	case perIdentity:
		out.Key.Who = "identity:" + c.Identity
	}
	out.Limit = ch.limit
	if ch.incFrom == nil {
		out.Amount = ch.inc
		return out, false, "", nil
	}
	v, ok := lookup(args, ch.incFrom.segs)
	if !ok {
		return out, false, "", fmt.Errorf("amount %s is missing", ch.incFrom.text)
	}
	// An amount must be a JSON number: a string is denied, never guessed
	// (a server may or may not read "10" as 10, or "1,000" as 1000).
	var r numReadings
	if _, isNum := v.(json.Number); !isNum || !readNumber(v, &r) {
		return out, false, "", fmt.Errorf("amount %s is not a number", ch.incFrom.text)
	}
	// Charge the largest reading: what the server spends may be the
	// double nearest the amount.
	var d *decimal.Decimal
	for i := range r.count() {
		nv, kind := r.at(i)
		switch nv.class {
		case posInf, negInf:
			return out, false, "", fmt.Errorf("amount %s is out of range", ch.incFrom.text)
		case finite:
		default:
			return out, false, "", fmt.Errorf("amount %s is not a number", ch.incFrom.text)
		}
		if nv.d.Sign() < 0 {
			return out, false, "", fmt.Errorf("amount %s is negative", ch.incFrom.text)
		}
		if d == nil || nv.d.Cmp(d) > 0 {
			d = &nv.d
			why = ""
			if kind != readExact {
				why = describeReading(ch.incFrom.text, v, kind, nv)
			}
		}
	}
	if d.Sign() == 0 {
		return out, true, why, nil
	}
	if adj := d.NumDigits() + int64(d.Exponent()) - 1; adj > maxAdjustedExponent || adj < -maxAdjustedExponent || d.NumDigits() > 2*maxAdjustedExponent {
		return out, false, "", fmt.Errorf("amount %s is out of range", ch.incFrom.text)
	}
	out.Amount = *d
	return out, false, why, nil
}

// String renders a decision for logs: action, rule and reason.
func (d Decision) String() string {
	var b strings.Builder
	b.WriteString(d.Action.String())
	if d.Monitor {
		b.WriteString(" (monitor)")
	}
	if d.Rule != "" {
		fmt.Fprintf(&b, " rule=%q", d.Rule)
	}
	if d.Reason != "" {
		fmt.Fprintf(&b, " reason=%q", d.Reason)
	}
	return b.String()
}
