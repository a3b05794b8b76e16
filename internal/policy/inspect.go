package policy

import (
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-mcp/tollgate/internal/inspect"
)

// Inspection is what the policy has Tollgate look for in the traffic of one
// tool (or of resources/read and prompts/get, under those names): secrets,
// personal data and injected instructions, and how large a result may be.
type Inspection struct {
	// Arguments inspects a call's arguments; nil when they are not.
	Arguments *inspect.Inspector
	// Results inspects what the server answers; nil when it is not.
	Results *inspect.Inspector
	// MaxResultBytes refuses a result larger than this; 0: no cap.
	MaxResultBytes int
}

var inspectKeys = []string{"arguments", "results", "allow", "max_result_bytes"}

// rawInspection is one inspect entry before the "*" entry is merged in.
type rawInspection struct {
	args, results map[string]inspect.Action
	allowArgs     []string
	allowResults  []string
	maxResult     int
	node          *yaml.Node
}

// inspectSection reads `inspect:` — a mapping from a tool name (or "*",
// resources/read, prompts/get) to {arguments, results, allow,
// max_result_bytes} — and compiles one Inspection per name, each merged
// over "*" (the tool's own settings win, detector by detector).
func (l *loader) inspectSection(p *Policy, n *yaml.Node) {
	if isNull(n) {
		return
	}
	raw := map[string]*rawInspection{}
	for _, e := range l.pairs(n, "inspect") {
		name := deref(e.key).Value
		f, ok := l.fields(e.val, "inspect."+name, inspectKeys)
		if !ok {
			continue
		}
		r := &rawInspection{node: e.key}
		if v, ok := f["arguments"]; ok {
			r.args = l.inspectActions(v.val, "inspect."+name+".arguments")
		}
		if v, ok := f["results"]; ok {
			r.results = l.inspectActions(v.val, "inspect."+name+".results")
		}
		if v, ok := f["allow"]; ok {
			items, _ := l.list(v.val, "inspect."+name+".allow")
			for _, it := range items {
				s, ok := l.str(it, "inspect."+name+".allow entry")
				if !ok {
					continue
				}
				switch {
				case s == "args" || strings.HasPrefix(s, "args.") || strings.HasPrefix(s, "args["):
					r.allowArgs = append(r.allowArgs, strings.TrimPrefix(strings.TrimPrefix(s, "args"), "."))
				case s == "result" || strings.HasPrefix(s, "result.") || strings.HasPrefix(s, "result["):
					r.allowResults = append(r.allowResults, strings.TrimPrefix(strings.TrimPrefix(s, "result"), "."))
				default:
					l.errf(it, "inspect.%s.allow entry %q must start with args (a call's arguments) or result (the server's answer)", name, s)
				}
			}
		}
		if v, ok := f["max_result_bytes"]; ok {
			vn := deref(v.val)
			sz, isSize := sizeValue(vn.Value)
			switch {
			case vn.Kind != yaml.ScalarNode || !isSize || sz <= 0:
				l.errf(v.val, "inspect.%s.max_result_bytes must be a positive number of bytes (or with KiB, MiB, KB, MB)", name)
			default:
				r.maxResult = sz
			}
		}
		raw[name] = r
	}
	if len(raw) == 0 {
		return
	}
	star := raw["*"]
	p.inspections = map[string]*Inspection{}
	for name, r := range raw {
		merged := r
		if star != nil && name != "*" {
			merged = mergeInspection(star, r)
		}
		in := l.compileInspection(name, merged)
		if in != nil {
			p.inspections[name] = in
		}
	}
}

func mergeInspection(star, own *rawInspection) *rawInspection {
	m := &rawInspection{node: own.node, maxResult: own.maxResult}
	if m.maxResult == 0 {
		m.maxResult = star.maxResult
	}
	merge := func(a, b map[string]inspect.Action) map[string]inspect.Action {
		if a == nil && b == nil {
			return nil
		}
		out := map[string]inspect.Action{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}
	m.args, m.results = merge(star.args, own.args), merge(star.results, own.results)
	m.allowArgs = append(append([]string(nil), star.allowArgs...), own.allowArgs...)
	m.allowResults = append(append([]string(nil), star.allowResults...), own.allowResults...)
	return m
}

func (l *loader) compileInspection(name string, r *rawInspection) *Inspection {
	in := &Inspection{MaxResultBytes: r.maxResult}
	if len(r.args) > 0 {
		a, err := inspect.Compile(inspect.Config{Detectors: r.args, Allow: r.allowArgs})
		if err != nil {
			l.errf(r.node, "inspect.%s.arguments: %v", name, err)
			return nil
		}
		in.Arguments = a
	}
	if len(r.results) > 0 {
		a, err := inspect.Compile(inspect.Config{Detectors: r.results, Allow: r.allowResults})
		if err != nil {
			l.errf(r.node, "inspect.%s.results: %v", name, err)
			return nil
		}
		in.Results = a
	}
	if in.Arguments == nil && in.Results == nil && in.MaxResultBytes == 0 {
		return nil
	}
	return in
}

// inspectActions reads a mapping from a detector or class name to an
// action (deny, redact, record, fence, off).
func (l *loader) inspectActions(n *yaml.Node, what string) map[string]inspect.Action {
	out := map[string]inspect.Action{}
	for _, e := range l.pairs(n, what) {
		name := deref(e.key).Value
		s, ok := l.str(e.val, what+"."+name)
		if !ok {
			continue
		}
		a, err := inspect.ParseAction(s)
		if err != nil {
			l.errf(e.val, "%s.%s: %v", what, name, err)
			continue
		}
		out[name] = a
	}
	return out
}

// sizeValue reads a byte count: a whole number, with or without a unit.
func sizeValue(x string) (int, bool) {
	{
		s := strings.TrimSpace(x)
		mult := 1
		for _, u := range []struct {
			suffix string
			n      int
		}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}} {
			if strings.HasSuffix(s, u.suffix) {
				s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.n
				break
			}
		}
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' || n > 1<<40 {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n * mult, s != ""
	}
}

// Inspection returns what the policy inspects for tool (or for the method
// resources/read or prompts/get): its own entry merged over "*", or "*"
// alone; nil when nothing is inspected.
func (p *Policy) Inspection(tool string) *Inspection {
	if p.inspections == nil {
		return nil
	}
	if in, ok := p.inspections[tool]; ok {
		return in
	}
	return p.inspections["*"]
}

// InspectRule names the decisions the inspect section makes.
const InspectRule = "inspect"

// inspectArgs denies a call whose arguments hold something the policy's
// inspect denies (the gate redacts what it redacts before it asks).
func (p *Policy) inspectArgs(c *Call, tr *[]Step) (Decision, bool) {
	if c.ArgsClean {
		// Set only by a caller that ran this policy's inspection of the
		// tool's arguments.
		trace(tr, Step{Kind: "inspect", Note: "nothing the inspect section denies"})
		return Decision{}, false
	}
	in := p.Inspection(c.Tool)
	if in == nil || in.Arguments == nil || len(c.Args) == 0 {
		return Decision{}, false
	}
	var deny *inspect.Finding
	err := in.Arguments.Scan(c.Args, func(f inspect.Finding) {
		if f.Action == inspect.Deny && deny == nil {
			deny = &f
		}
	})
	var reason string
	switch {
	case err != nil:
		reason = "the arguments could not be inspected: " + err.Error()
	case deny != nil:
		where := "args"
		switch {
		case deny.Path == "":
		case deny.Path[0] == '[':
			where += deny.Path
		default:
			where += "." + deny.Path
		}
		reason = where + " holds " + deny.Detector + " (" + deny.Class.String() + "), which the policy's inspect denies"
	default:
		trace(tr, Step{Kind: "inspect", Note: "nothing the inspect section denies"})
		return Decision{}, false
	}
	trace(tr, Step{Kind: "inspect", Rule: InspectRule, Held: true, Note: reason})
	return Decision{Action: Deny, Rule: InspectRule, Reason: reason}, true
}
