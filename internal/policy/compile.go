package policy

import (
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"go.yaml.in/yaml/v3"

	"github.com/tollgate-mcp/tollgate/internal/state"
)

type actionKind uint8

const (
	actEvaluate actionKind = iota
	actDeny
	actApproval
)

type perKind uint8

const (
	perGlobal perKind = iota
	perSession
	perIdentity
)

// rule is a compiled rule.
type rule struct {
	name     string
	key      string // the tools key it belongs to
	action   actionKind
	conds    []*condition
	reason   string // on_deny / reason as written, "" if none
	monitor  bool
	validate bool // validate: {required_args: true}
	charge   *chargeSpec
}

// chargeSpec is a compiled rate_limit or state block.
type chargeSpec struct {
	scope, counter string
	per            perKind
	window         time.Duration
	align          state.Align
	loc            *time.Location
	inc            decimal.Decimal // fixed amount when incFrom is nil
	incFrom        *argPath
	limit          decimal.Decimal
	strict         bool
	refund         bool
	reason         string // for a failed reservation
	desc           string // e.g. "state.create_charge.daily_spend lte 1000000"
	// global is the name (state.Key.String) of the counter when per is
	// global, made once at compile time.
	global string
}

type counterID struct{ scope, counter string }

// stateRef is a state.* condition awaiting the cross-rule check.
type stateRef struct {
	node           *yaml.Node
	r              *rule
	scope, counter string
}

type compiler struct {
	section  string // the section whose rules are compiled: "" (tools) or "requests"
	l        *loader
	p        *Policy
	keys     []string
	rules    map[string][]*rule
	toolVal  map[string]bool
	counters map[counterID]*rule
	refs     []*stateRefLimit
}

var toolKeys = []string{"rules", "validate"}

var ruleKeys = []string{"name", "action", "conditions", "on_deny", "reason", "state", "rate_limit",
	"per", "align", "timezone", "refund_on_failure", "mode", "validate"}

func (c *compiler) tools(n *yaml.Node) {
	c.rules = map[string][]*rule{}
	c.toolVal = map[string]bool{}
	for _, kv := range c.l.pairs(n, "tools") {
		key := deref(kv.key).Value
		if strings.TrimSpace(key) == "" {
			c.l.errf(kv.key, "tool key must not be empty")
			continue
		}
		c.keys = append(c.keys, key)
		c.rules[key] = nil
		if isNull(kv.val) {
			continue // listed, no rules
		}
		f, ok := c.l.fields(kv.val, fmt.Sprintf("tools.%s", key), toolKeys)
		if !ok {
			continue
		}
		if v, ok := f["validate"]; ok {
			c.toolVal[key] = c.validateBlock(v.val, "tools."+key+".validate")
		}
		if v, ok := f["rules"]; ok && !isNull(v.val) {
			items, ok := c.l.list(v.val, "tools."+key+".rules")
			if !ok {
				continue
			}
			names := map[string]*yaml.Node{}
			for i, it := range items {
				r := c.rule(key, i, it)
				if r == nil {
					continue
				}
				if prev, dup := names[r.name]; dup {
					c.l.errf(deref(it), "duplicate rule name %q in tools.%s (first at line %d)", r.name, key, prev.Line)
					continue
				}
				names[r.name] = deref(it)
				c.rules[key] = append(c.rules[key], r)
			}
		}
	}
}

func (c *compiler) validateBlock(n *yaml.Node, what string) bool {
	f, ok := c.l.fields(n, what, []string{"required_args"})
	if !ok {
		return false
	}
	v, ok := f["required_args"]
	if !ok {
		c.l.errf(deref(n), "%s: required_args is required", what)
		return false
	}
	b, _ := c.l.boolean(v.val, what+".required_args")
	return b
}

func scopeFor(key string) string {
	if key == "*" {
		return "_global"
	}
	return key
}

// rule compiles one rule; it returns nil when the rule is too broken to
// check further (problems are recorded either way).
func (c *compiler) rule(key string, idx int, n *yaml.Node) *rule {
	l := c.l
	n = deref(n)
	where := fmt.Sprintf("%s.%s.rules[%d]", c.sectionOr("tools"), key, idx)
	f, ok := l.fields(n, where, ruleKeys)
	if !ok {
		return nil
	}
	r := &rule{key: key, name: fmt.Sprintf("%s#%d", key, idx+1)}
	if v, ok := f["name"]; ok {
		if s, ok := l.str(v.val, where+".name"); ok {
			if strings.TrimSpace(s) == "" {
				l.errf(deref(v.val), "%s.name must not be empty", where)
			} else {
				r.name = s
			}
		}
	}
	where = fmt.Sprintf("rule %q", r.name)

	if v, ok := f["action"]; ok {
		if s, ok := l.enum(v.val, where+": action", []string{"evaluate", "allow", "deny", "require_approval"}); ok {
			switch s {
			case "deny":
				r.action = actDeny
			case "require_approval":
				r.action = actApproval
			}
		}
	}
	od, hasOD := f["on_deny"]
	rs, hasRS := f["reason"]
	switch {
	case hasOD && hasRS:
		l.errf(rs.key, "%s: on_deny and reason are synonyms; give only one", where)
	case hasOD:
		r.reason, _ = l.str(od.val, where+": on_deny")
	case hasRS:
		r.reason, _ = l.str(rs.val, where+": reason")
	}
	if v, ok := f["mode"]; ok {
		if s, ok := l.enum(v.val, where+": mode", []string{"enforce", "monitor"}); ok {
			r.monitor = s == "monitor"
		}
	}
	if v, ok := f["validate"]; ok {
		r.validate = c.validateBlock(v.val, where+": validate")
		if r.action != actEvaluate {
			l.errf(v.key, "%s: validate applies only to evaluate/allow rules", where)
		}
	}

	var stateConds []*stateRefLimit
	if v, ok := f["conditions"]; ok && !isNull(v.val) {
		items, _ := l.list(v.val, where+": conditions")
		for j, it := range items {
			cond, sref := c.condition(it, fmt.Sprintf("%s: conditions[%d]", where, j))
			if cond != nil {
				r.conds = append(r.conds, cond)
			}
			if sref != nil {
				sref.r = r
				stateConds = append(stateConds, sref)
			}
		}
	}

	rl, hasRL := f["rate_limit"]
	st, hasST := f["state"]
	switch {
	case hasRL && hasST:
		l.errf(rl.key, "%s: rate_limit cannot be combined with state; use one or the other", where)
	case hasRL:
		if len(r.conds) > 0 || len(stateConds) > 0 {
			l.errf(rl.key, "%s: rate_limit cannot be combined with conditions; use separate rules", where)
		}
		if r.action != actEvaluate {
			l.errf(rl.key, "%s: rate_limit is only allowed on evaluate/allow rules", where)
		}
		r.charge = c.rateLimit(rl.val, key, r, where)
	case hasST:
		if r.action != actEvaluate {
			l.errf(st.key, "%s: state is only allowed on evaluate/allow rules", where)
		}
		r.charge = c.stateBlock(st.val, key, r, where, stateConds)
		stateConds = nil // consumed (or reported) by stateBlock
	}
	c.refs = append(c.refs, stateConds...)
	if r.charge == nil && (hasRL || hasST) {
		// Check the options anyway so every problem is reported at once.
		c.chargeOptions(r, &chargeSpec{}, f, where)
	}
	if r.charge != nil {
		c.chargeOptions(r, r.charge, f, where)
		r.charge.global = state.Key{Scope: r.charge.scope, Counter: r.charge.counter, Who: "global"}.String()
	} else if !hasRL && !hasST {
		for _, k := range []string{"per", "align", "timezone", "refund_on_failure"} {
			if v, ok := f[k]; ok {
				l.errf(v.key, "%s: %s applies only to rules with rate_limit or state", where, k)
			}
		}
	}
	return r
}

func (c *compiler) chargeOptions(r *rule, ch *chargeSpec, f map[string]field, where string) {
	l := c.l
	if v, ok := f["per"]; ok {
		if s, ok := l.enum(v.val, where+": per", []string{"global", "session", "identity"}); ok {
			ch.per = map[string]perKind{"global": perGlobal, "session": perSession, "identity": perIdentity}[s]
		}
	}
	if v, ok := f["align"]; ok {
		if s, ok := l.enum(v.val, where+": align", []string{"sliding", "calendar"}); ok && s == "calendar" {
			ch.align = state.Calendar
			switch ch.window {
			case time.Second, time.Minute, time.Hour, 24 * time.Hour, 0:
			default:
				l.errf(deref(v.val), "%s: align: calendar needs a window of one second, minute, hour or day, got %s", where, ch.window)
			}
		}
	}
	if v, ok := f["timezone"]; ok {
		if ch.align != state.Calendar {
			l.errf(v.key, "%s: timezone applies only with align: calendar", where)
		} else if s, ok := l.str(v.val, where+": timezone"); ok {
			loc, err := time.LoadLocation(s)
			if err != nil || s == "" || s == "Local" {
				l.errf(deref(v.val), "%s: unknown timezone %q (use an IANA name such as \"Europe/Paris\" or \"UTC\")", where, s)
			} else {
				ch.loc = loc
			}
		}
	}
	if v, ok := f["refund_on_failure"]; ok {
		ch.refund, _ = l.boolean(v.val, where+": refund_on_failure")
	}
	if r.reason != "" {
		ch.reason = r.reason
	}
}

// rateLimit compiles "N/window" or {max: N, window: W}.
func (c *compiler) rateLimit(n *yaml.Node, key string, r *rule, where string) *chargeSpec {
	l := c.l
	n = deref(n)
	var max int64
	var window time.Duration
	var windowText string
	if n.Kind == yaml.MappingNode {
		f, ok := l.fields(n, where+": rate_limit", []string{"max", "window"})
		if !ok {
			return nil
		}
		mv, okM := f["max"]
		wv, okW := f["window"]
		if !okM || !okW {
			l.errf(n, "%s: rate_limit needs both max and window", where)
			return nil
		}
		mn := deref(mv.val)
		m, err := strconv.ParseInt(strings.ReplaceAll(mn.Value, "_", ""), 10, 64)
		if mn.Kind != yaml.ScalarNode || mn.ShortTag() != "!!int" || err != nil || m <= 0 {
			l.errf(mn, "%s: rate_limit.max must be a positive integer, got %s", where, kindName(mn))
			return nil
		}
		d, ok := l.duration(wv.val, where+": rate_limit.window")
		if !ok {
			return nil
		}
		max, window, windowText = m, d, deref(wv.val).Value
	} else {
		s, ok := l.str(n, where+": rate_limit")
		if !ok {
			return nil
		}
		count, win, found := strings.Cut(strings.TrimSpace(s), "/")
		m, err := strconv.ParseInt(strings.TrimSpace(count), 10, 64)
		if !found || err != nil || m <= 0 {
			l.errf(n, "%s: rate_limit must be \"N/window\" with N a positive integer (e.g. \"5/hour\"), got %q", where, s)
			return nil
		}
		win = strings.TrimSpace(win)
		d, err := parseWindowText(win)
		if err != nil {
			l.errf(n, "%s: rate_limit: %v", where, err)
			return nil
		}
		max, window, windowText = m, d, win
	}
	if _, named := windowNames[windowText]; !named {
		if d, err := time.ParseDuration(windowText); err == nil {
			windowText = d.String()
		} else {
			windowText = window.String()
		}
	}
	ch := &chargeSpec{
		scope:   scopeFor(key),
		counter: "rate_limit:" + r.name,
		window:  window,
		reason:  fmt.Sprintf("Rate limit of %d per %s reached. Try again later.", max, windowText),
		desc:    fmt.Sprintf("rate_limit %d per %s", max, windowText),
	}
	ch.inc = decimal.NewFromInt64(1)
	ch.limit = decimal.NewFromInt64(max)
	return ch
}

var stateKeys = []string{"counter", "window", "increment", "increment_from"}

// stateBlock compiles a state block together with the rule's state
// conditions, which must limit this very counter with lt or lte.
func (c *compiler) stateBlock(n *yaml.Node, key string, r *rule, where string, conds []*stateRefLimit) *chargeSpec {
	l := c.l
	f, ok := l.fields(n, where+": state", stateKeys)
	if !ok {
		return nil
	}
	ch := &chargeSpec{scope: scopeFor(key)}
	bad := false
	if v, ok := f["counter"]; !ok {
		l.errf(deref(n), "%s: state.counter is required", where)
		bad = true
	} else if s, ok := l.str(v.val, where+": state.counter"); ok {
		if s == "" || strings.ContainsAny(s, ".[]\"' \t:") {
			l.errf(deref(v.val), "%s: state.counter %q must be non-empty without dots, brackets, quotes, colons or spaces", where, s)
			bad = true
		}
		ch.counter = s
		id := counterID{ch.scope, s}
		if prev, dup := c.counters[id]; dup {
			l.errf(deref(v.val), "%s: counter state.%s.%s is already incremented by rule %q", where, id.scope, id.counter, prev.name)
			bad = true
		} else {
			c.counters[id] = r
		}
	} else {
		bad = true
	}
	if v, ok := f["window"]; !ok {
		l.errf(deref(n), "%s: state.window is required", where)
		bad = true
	} else if d, ok := l.duration(v.val, where+": state.window"); ok {
		ch.window = d
	} else {
		bad = true
	}
	inc, hasInc := f["increment"]
	from, hasFrom := f["increment_from"]
	switch {
	case hasInc && hasFrom:
		l.errf(from.key, "%s: increment and increment_from are exclusive", where)
		bad = true
	case hasFrom:
		s, ok := l.str(from.val, where+": state.increment_from")
		if ok {
			ap, _, _, err := parsePath(s)
			switch {
			case err != nil:
				l.errf(deref(from.val), "%s: state.increment_from %q: %v", where, s, err)
				bad = true
			case ap == nil || ap.wildcard:
				l.errf(deref(from.val), "%s: state.increment_from must be an args path without [*], got %q", where, s)
				bad = true
			default:
				ch.incFrom = ap
				ch.refund = true
			}
		}
	case hasInc:
		v, ok := l.value(inc.val, where+": state.increment")
		d, isNum := v.(*decimal.Decimal)
		if !ok || !isNum || d.Sign() <= 0 {
			if ok {
				l.errf(deref(inc.val), "%s: state.increment must be a positive number", where)
			}
			bad = true
		} else {
			ch.inc = *d
		}
	default:
		ch.inc = decimal.NewFromInt64(1)
	}

	// The limit: exactly one lt/lte condition on this rule's own counter.
	own := "state." + ch.scope + "." + ch.counter
	var limitCond *condition
	for _, s := range conds {
		if s.scope != ch.scope || s.counter != ch.counter {
			l.errf(s.node, "%s: condition reads counter state.%s.%s but this rule's state block increments %s; a counter limit must be in the rule that increments it", where, s.scope, s.counter, own)
			bad = true
			continue
		}
		cond := s.limit
		if cond == nil {
			bad = true
			continue
		}
		if limitCond != nil {
			l.errf(s.node, "%s: counter %s has more than one limit condition", where, own)
			bad = true
			continue
		}
		limitCond = cond
	}
	if limitCond == nil {
		if len(conds) == 0 {
			l.errf(deref(n), "%s: state counter %s has no limit; add a condition {path: %q, op: lte, value: N}", where, own, own)
		}
		return nil
	}
	if bad {
		return nil
	}
	ch.limit = *limitCond.num
	ch.strict = limitCond.op == opLt
	ch.desc = fmt.Sprintf("%s %s %s", own, limitCond.opName, limitCond.num.Text('f'))
	ch.reason = fmt.Sprintf("limit reached: %s (rule %q)", ch.desc, r.name)

	// A rule that can never admit a call is a mistake.
	if ch.incFrom == nil {
		r := ch.inc.Cmp(&ch.limit)
		if r > 0 || r == 0 && ch.strict {
			l.errf(limitCond.node, "%s: the limit %s can never admit a call that adds %s", where, ch.desc, ch.inc.Text('f'))
			return nil
		}
	} else if ch.limit.Sign() <= 0 {
		l.errf(limitCond.node, "%s: the limit %s can never admit a positive amount", where, ch.desc)
		return nil
	}
	return ch
}

var condKeys = []string{"path", "op", "value"}

// condition compiles one condition. For a state path it returns a stateRef
// (with the limit in stateRef.limit when the operator is lt/lte) instead of a
// condition.
func (c *compiler) condition(n *yaml.Node, where string) (*condition, *stateRefLimit) {
	l := c.l
	f, ok := l.fields(n, where, condKeys)
	if !ok {
		return nil, nil
	}
	n = deref(n)
	pv, okP := f["path"]
	ov, okO := f["op"]
	vv, okV := f["value"]
	if !okP {
		l.errf(n, "%s: path is required", where)
	}
	if !okO {
		l.errf(n, "%s: op is required", where)
	}
	if !okP || !okO {
		return nil, nil
	}
	ptext, ok1 := l.str(pv.val, where+": path")
	opText, ok2 := l.str(ov.val, where+": op")
	if !ok1 || !ok2 {
		return nil, nil
	}
	op, known := opNames[opText]
	if !known {
		l.errf(deref(ov.val), "%s: unknown operator %q%s", where, opText, suggest(opText, opList))
	}
	ap, scope, counter, err := parsePath(ptext)
	if err != nil {
		l.errf(deref(pv.val), "%s: path %q: %v", where, ptext, err)
	}
	if !okV {
		l.errf(n, "%s: value is required", where)
		return nil, nil
	}
	if !known || err != nil {
		return nil, nil
	}
	cond := &condition{path: ap, op: op, opName: opText, node: deref(vv.val)}
	if !c.compileValue(cond, vv.val, where) {
		cond = nil
	}
	if ap == nil { // state path
		sr := &stateRefLimit{stateRef: stateRef{node: deref(pv.val), scope: scope, counter: counter}}
		if cond != nil {
			if op != opLt && op != opLte {
				l.errf(deref(ov.val), "%s: a counter can only be limited with lt or lte, got %q", where, opText)
			} else {
				sr.limit = cond
			}
		}
		return nil, sr
	}
	return cond, nil
}

// stateRefLimit is a state condition plus its compiled limit (nil when the
// operator or value was invalid, already reported).
type stateRefLimit struct {
	stateRef
	limit *condition
}

// compileValue checks the value's type for the operator and precompiles it.
func (c *compiler) compileValue(cond *condition, vn *yaml.Node, where string) bool {
	l := c.l
	vn = deref(vn)
	v, ok := l.value(vn, where+": value")
	if !ok {
		return false
	}
	cond.value = v
	fail := func(want string) bool {
		l.errf(vn, "%s: operator %q needs %s, got %s", where, cond.opName, want, kindName(vn))
		return false
	}
	switch cond.op {
	case opEq, opNeq:
	case opContains:
		if _, isList := v.([]any); isList {
			return fail("a string, number, boolean or null")
		}
		if _, isMap := v.(map[string]any); isMap {
			return fail("a string, number, boolean or null")
		}
	case opIn, opNotIn:
		list, ok := v.([]any)
		if !ok {
			return fail("a list")
		}
		if len(list) == 0 && cond.op == opIn {
			l.errf(vn, "%s: \"in\" with an empty list can never hold", where)
			return false
		}
		cond.list = list
	case opLt, opLte, opGt, opGte:
		d, ok := v.(*decimal.Decimal)
		if !ok {
			return fail("a number (quoted numbers are strings)")
		}
		cond.num = d
	case opRegex, opNotRegex:
		s, ok := v.(string)
		if !ok {
			return fail("a string (a regular expression)")
		}
		re, err := regexp.Compile(s)
		if err != nil {
			l.errf(vn, "%s: invalid regular expression %q: %v", where, s, err)
			return false
		}
		cond.re = re
	case opExists:
		b, ok := v.(bool)
		if !ok {
			return fail("true or false")
		}
		cond.want = b
	case opStartsWith:
		s, ok := v.(string)
		if !ok {
			return fail("a string")
		}
		cond.str = s
	case opPathWithin:
		var dirs []any
		switch x := v.(type) {
		case string:
			dirs = []any{x}
		case []any:
			dirs = x
		default:
			return fail("a directory or a list of directories")
		}
		if len(dirs) == 0 {
			return fail("at least one directory")
		}
		for _, d := range dirs {
			s, ok := d.(string)
			if !ok || !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "\x00\\") {
				l.errf(vn, "%s: path_within directories must be absolute slash-separated paths, got %s", where, jsonText(d))
				return false
			}
			cond.dirs = append(cond.dirs, path.Clean(s))
		}
	case opMaxLen:
		d, ok := v.(*decimal.Decimal)
		var n int64
		if ok {
			var err error
			n, err = d.Int64()
			ok = err == nil && n >= 0 && n <= 1<<31 && d.Exponent() >= 0
		}
		if !ok {
			return fail("a non-negative integer")
		}
		cond.maxLen = int(n)
	}
	return true
}

// finish checks cross-rule references and builds the plans.
func (c *compiler) finish() {
	l, p := c.l, c.p
	for _, s := range c.refs {
		id := counterID{s.scope, s.counter}
		if owner, ok := c.counters[id]; ok {
			l.errf(s.node, "rule %q: condition reads counter state.%s.%s, which rule %q increments; a counter limit must be in the rule that increments it", s.r.name, s.scope, s.counter, owner.name)
		} else {
			l.errf(s.node, "rule %q: condition reads counter state.%s.%s which no rule increments", s.r.name, s.scope, s.counter)
		}
	}
	star := c.rules["*"]
	build := func(key string, listed bool) *plan {
		pl := &plan{key: key, listed: listed}
		if c.toolVal[key] {
			pl.checks = append(pl.checks, &rule{name: key + "#validate", key: key, validate: true})
		}
		own := c.rules[key]
		if key == "*" {
			own = nil
		}
		for _, r := range append(append([]*rule(nil), own...), star...) {
			switch r.action {
			case actDeny:
				pl.denies = append(pl.denies, r)
			case actApproval:
				pl.approvals = append(pl.approvals, r)
			default:
				if len(r.conds) > 0 || r.validate {
					pl.checks = append(pl.checks, r)
				}
				if r.charge != nil {
					pl.charges = append(pl.charges, r)
				}
			}
		}
		if c.toolVal["*"] && key != "*" {
			pl.checks = append(pl.checks, &rule{name: "*#validate", key: "*", validate: true})
		}
		for _, r := range append(append(append([]*rule(nil), pl.denies...), pl.checks...), append(pl.approvals, pl.charges...)...) {
			if len(r.conds) > 0 || r.validate || r.charge != nil && r.charge.incFrom != nil {
				pl.needsArgs = true
			}
		}
		return pl
	}
	for _, key := range c.keys {
		if key == "*" {
			continue
		}
		pl := build(key, true)
		if strings.Contains(key, "*") {
			p.globs = append(p.globs, pl)
		} else {
			p.exact[key] = pl
		}
	}
	sort.Slice(p.globs, func(i, j int) bool { return globLess(p.globs[i].key, p.globs[j].key) })
	p.fallback = build("*", false)
	p.fallback.key = ""
}
