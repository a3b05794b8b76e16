package policy

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-mcp/tollgate/internal/state"
)

// RequestMethods are the client requests a requests entry may govern:
// those whose params name what the server reads or acts on (a resource's
// URI, a prompt and its arguments, a completion's argument). A tools/call
// is governed by the tools section.
var RequestMethods = []string{"resources/read", "prompts/get", "resources/subscribe", "completion/complete"}

func (c *compiler) sectionOr(def string) string {
	if c.section != "" {
		return c.section
	}
	return def
}

// requests compiles the requests section: for each method, deny rules,
// evaluate rules with conditions on the request's params (args.uri,
// args.name, args.arguments.…) and rate limits. A request cannot wait for
// a person, and state counters (spend) count tool calls, so those are load
// errors. A request's rate limit counts under the scope "request:METHOD",
// which no tools key's counter shares.
func (c *compiler) requests(n *yaml.Node) {
	l, p := c.l, c.p
	c.section = "requests"
	defer func() { c.section = "" }()
	p.requests = map[string]*plan{}
	for _, kv := range l.pairs(n, "requests") {
		method := deref(kv.key).Value
		if !slices.Contains(RequestMethods, method) {
			l.errf(kv.key, "requests.%s: not a request Tollgate governs (want %s; a tools/call is governed under tools)", method, strings.Join(RequestMethods, ", "))
			continue
		}
		pl := &plan{key: method, listed: true}
		p.requests[method] = pl
		if isNull(kv.val) {
			continue
		}
		f, ok := l.fields(kv.val, "requests."+method, []string{"rules"})
		if !ok {
			continue
		}
		v, ok := f["rules"]
		if !ok || isNull(v.val) {
			continue
		}
		items, ok := l.list(v.val, "requests."+method+".rules")
		if !ok {
			continue
		}
		names := map[string]*yaml.Node{}
		for i, it := range items {
			r := c.rule(method, i, it)
			if r == nil {
				continue
			}
			where := fmt.Sprintf("requests.%s: rule %q", method, r.name)
			switch {
			case r.action == actApproval:
				l.errf(deref(it), "%s: a request cannot wait for approval (only a tools/call can); use action: deny", where)
				continue
			case r.charge != nil && !strings.HasPrefix(r.charge.counter, "rate_limit:"):
				l.errf(deref(it), "%s: state counters count tool calls, not requests; a request's rule may have rate_limit", where)
				continue
			case r.validate:
				l.errf(deref(it), "%s: validate checks a tool's arguments against its schema; a request has none", where)
				continue
			}
			if prev, dup := names[r.name]; dup {
				l.errf(deref(it), "duplicate rule name %q in requests.%s (first at line %d)", r.name, method, prev.Line)
				continue
			}
			names[r.name] = deref(it)
			switch {
			case r.action == actDeny:
				pl.denies = append(pl.denies, r)
			case len(r.conds) > 0:
				pl.checks = append(pl.checks, r)
			}
			if r.charge != nil {
				r.charge.scope = "request:" + method
				r.charge.global = state.Key{Scope: r.charge.scope, Counter: r.charge.counter, Who: "global"}.String()
				pl.charges = append(pl.charges, r)
			}
			if len(r.conds) > 0 {
				pl.needsArgs = true
			}
		}
	}
}

// GovernsRequest reports whether the requests section has an entry for
// method.
func (p *Policy) GovernsRequest(method string) bool {
	_, ok := p.requests[method]
	return ok
}

// DecideRequest returns the decision on a client request: c.Tool is its
// method, c.Args its params. The rules of the requests entry for the
// method decide, as a tool's rules decide a call: deny rules, then
// evaluate rules' conditions (in monitor mode, or for a rule in monitor
// mode, what they would deny is reported with Monitor set), then the
// charges of its rate limits. ok is false when no entry governs the
// method: the request is not the policy's to decide. A decision never
// asks for approval.
func (p *Policy) DecideRequest(c *Call) (d Decision, ok bool) {
	return p.request(c, nil)
}

// ExplainRequest returns the same decision as DecideRequest together with
// every step considered, for `tollgate explain --request`.
func (p *Policy) ExplainRequest(c *Call) (d Decision, steps []Step, ok bool) {
	d, ok = p.request(c, &steps)
	return d, steps, ok
}

func (p *Policy) request(c *Call, tr *[]Step) (Decision, bool) {
	pl, ok := p.requests[c.Tool]
	if !ok {
		return Decision{}, false
	}
	trace(tr, Step{Kind: "default", Note: fmt.Sprintf("requests entry %q matches", c.Tool)})
	d := p.decideRules(pl, c, tr)
	if p.mode == Monitor && d.Action != Allow {
		d.Monitor = true
	}
	return d, true
}
