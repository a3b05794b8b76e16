package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// Kind is a tool's rule as a person thinks of it.
type Kind string

// The kinds a person can pick, and Custom for an entry the console does not
// reduce to one of them (conditions, several rules, validate).
const (
	Allow     Kind = "allow"
	RateLimit Kind = "rate_limit"
	Approval  Kind = "require_approval"
	Deny      Kind = "deny"
	Hide      Kind = "hide"
	Custom    Kind = "custom"
)

// Label is the kind in words.
func (k Kind) Label() string {
	switch k {
	case Allow:
		return "Allow"
	case RateLimit:
		return "Rate limit"
	case Approval:
		return "Require approval"
	case Deny:
		return "Deny"
	case Hide:
		return "Hide"
	}
	return "Custom"
}

// Windows a rate limit can be set to from the console.
var Windows = []string{"second", "minute", "hour", "day"}

// ToolRule is one tool's rule as read from a policy file.
type ToolRule struct {
	Tool   string
	Kind   Kind
	Limit  int    // RateLimit
	Window string // RateLimit: as written (a window name or a duration)
	// Via says where the rule comes from when it is not the tool's own
	// entry: "default", `glob "delete_*"`, `hide "delete_*"`.
	Via string
}

// Change is what a person asked for one tool.
type Change struct {
	Tool   string
	Kind   Kind
	Limit  int
	Window string
}

// doc is a policy file parsed for editing.
type doc struct {
	lines []string // each with its '\n' (the last one may lack it)
	root  *yaml.Node
}

func parseDoc(data []byte) (*doc, error) {
	var d yaml.Node
	if err := yaml.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("parse policy: %w", err)
	}
	if len(d.Content) != 1 || d.Content[0].Kind != yaml.MappingNode || d.Content[0].Style&yaml.FlowStyle != 0 {
		return nil, errors.New("parse policy: the file is not a block YAML mapping")
	}
	return &doc{lines: strings.SplitAfter(string(data), "\n"), root: d.Content[0]}, nil
}

func (d *doc) bytes() []byte { return []byte(strings.Join(d.lines, "")) }

// get returns the key and value nodes of key in mapping m.
func get(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func isBlock(n *yaml.Node, kind yaml.Kind) bool {
	return n != nil && n.Kind == kind && n.Style&yaml.FlowStyle == 0 && len(n.Content) > 0
}

// lastLine is the last line (1-based) n's text occupies.
func (d *doc) lastLine(n *yaml.Node) int {
	last := n.Line
	if n.Kind == yaml.ScalarNode && (n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0) {
		last += strings.Count(strings.TrimRight(n.Value, "\n"), "\n") + 1
	}
	for _, c := range n.Content {
		last = max(last, d.lastLine(c))
	}
	if n.Kind == yaml.AliasNode {
		return last
	}
	// A flow collection's closing bracket may sit on a later line.
	if n.Style&yaml.FlowStyle != 0 && (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) {
		for last < len(d.lines) {
			if t := strings.TrimSpace(d.lines[last-1]); strings.HasSuffix(t, "]") || strings.HasSuffix(t, "}") {
				break
			}
			last++
		}
	}
	return min(last, len(d.lines))
}

// replace puts text in place of lines from..to (1-based, inclusive); with
// to == from-1 it inserts before line from.
func (d *doc) replace(from, to int, text string) {
	if n := len(d.lines); n > 0 && !strings.HasSuffix(d.lines[n-1], "\n") && from > n {
		d.lines[n-1] += "\n"
	}
	var out []string
	out = append(out, d.lines[:from-1]...)
	if text != "" {
		out = append(out, strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n")...)
		out[len(out)-1] += "\n"
	}
	out = append(out, d.lines[min(to, len(d.lines)):]...)
	// Drop the empty string SplitAfter leaves after a final '\n'.
	if n := len(out); n > 0 && out[n-1] == "" {
		out = out[:n-1]
	}
	d.lines = out
}

// quote renders s as a YAML scalar: plain when that reads back as the same
// string, else double-quoted (JSON's escapes are YAML's).
func quote(s string) string {
	if plainSafe().MatchString(s) && !yamlSpecial[strings.ToLower(s)] {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}

var plainSafe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_]([A-Za-z0-9_./ -]*[A-Za-z0-9_./-])?$`) })

var yamlSpecial = map[string]bool{"true": true, "false": true, "yes": true, "no": true, "on": true, "off": true, "null": true, "y": true, "n": true, "~": true}

// renderRules is the `rules:` entry for ch at indent ind.
func renderRules(ind string, ch Change) string {
	item := ind + "  - "
	more := ind + "    "
	switch ch.Kind {
	case Deny:
		return ind + "rules:\n" + item + "name: " + quote(ch.Tool+" denied") + "\n" + more + "action: deny\n" +
			more + "reason: " + quote("denied by the policy (set in tollgate console)") + "\n"
	case Approval:
		return ind + "rules:\n" + item + "name: " + quote(ch.Tool+" needs approval") + "\n" + more + "action: require_approval\n" +
			more + "reason: " + quote("a person approves each call (set in tollgate console)") + "\n"
	case RateLimit:
		return ind + "rules:\n" + item + "name: " + quote(ch.Tool+" rate limit") + "\n" +
			more + "rate_limit: " + strconv.Itoa(ch.Limit) + "/" + ch.Window + "\n"
	}
	return ind + "rules: []\n"
}

// Edit returns data with tool ch.Tool's rule set to ch: the hide list and
// the tool's `rules` entry are rewritten in place and every other line of
// the file (comments included) is kept as it was. The result is not yet
// validated (see Editor.Apply).
func Edit(data []byte, ch Change) ([]byte, error) {
	if err := ch.check(); err != nil {
		return nil, err
	}
	d, err := parseDoc(data)
	if err != nil {
		return nil, err
	}
	if err := d.setHidden(ch.Tool, ch.Kind == Hide); err != nil {
		return nil, err
	}
	if ch.Kind == Hide {
		return d.bytes(), nil
	}
	if d, err = parseDoc(d.bytes()); err != nil {
		return nil, err
	}
	if err := d.setRules(ch); err != nil {
		return nil, err
	}
	return d.bytes(), nil
}

func (ch Change) check() error {
	if strings.TrimSpace(ch.Tool) == "" || strings.Contains(ch.Tool, "*") || strings.ContainsAny(ch.Tool, "\n\r") {
		return fmt.Errorf("edit policy: %q is not a tool name (globs and \"*\" are edited by hand)", ch.Tool)
	}
	switch ch.Kind {
	case Allow, Deny, Approval, Hide:
	case RateLimit:
		if ch.Limit < 1 || ch.Limit > 1_000_000_000 {
			return fmt.Errorf("edit policy: a rate limit needs a number of calls from 1 to 1000000000, not %d", ch.Limit)
		}
		ok := false
		for _, w := range Windows {
			ok = ok || w == ch.Window
		}
		if !ok {
			return fmt.Errorf("edit policy: the window must be one of %s, not %q", strings.Join(Windows, ", "), ch.Window)
		}
	default:
		return fmt.Errorf("edit policy: unknown rule kind %q", ch.Kind)
	}
	return nil
}

// setHidden adds tool to the hide list or takes it out.
func (d *doc) setHidden(tool string, hide bool) error {
	hk, hv := get(d.root, "hide")
	var items []string
	found := -1
	if hv != nil && hv.Kind == yaml.SequenceNode {
		for i, it := range hv.Content {
			items = append(items, it.Value)
			if it.Value == tool {
				found = i
			}
		}
	}
	if !hide {
		if found < 0 {
			for _, it := range items {
				if it == "*" || (strings.Contains(it, "*") && globMatch(it, tool)) {
					return fmt.Errorf("edit policy: %s is hidden by the hide entry %q; edit the policy by hand to show it", tool, it)
				}
			}
			return nil
		}
		if isBlock(hv, yaml.SequenceNode) && len(hv.Content) > 1 {
			it := hv.Content[found]
			d.replace(it.Line, d.lastLine(it), "")
			return nil
		}
		items = append(items[:found:found], items[found+1:]...)
		d.replace(hk.Line, d.lastLine(hv), strings.Repeat(" ", hk.Column-1)+"hide: "+flowList(items)+"\n")
		return nil
	}
	if found >= 0 {
		return nil
	}
	switch {
	case hk == nil:
		d.replace(len(d.lines)+1, len(d.lines), "hide:\n  - "+quote(tool)+"\n")
	case isBlock(hv, yaml.SequenceNode):
		end := d.lastLine(hv)
		d.replace(end+1, end, strings.Repeat(" ", hv.Column-1)+"- "+quote(tool)+"\n")
	default:
		d.replace(hk.Line, d.lastLine(hv), strings.Repeat(" ", hk.Column-1)+"hide: "+flowList(append(items, tool))+"\n")
	}
	return nil
}

func flowList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// setRules makes ch.Tool's `rules` entry say ch.Kind.
func (d *doc) setRules(ch Change) error {
	tk, tv := get(d.root, "tools")
	if tk == nil {
		d.replace(len(d.lines)+1, len(d.lines), "tools:\n  "+quote(ch.Tool)+":\n"+renderRules("    ", ch))
		return nil
	}
	if !isBlock(tv, yaml.MappingNode) {
		if tv.Kind == yaml.MappingNode && len(tv.Content) > 0 {
			return errors.New("edit policy: tools is written in flow style ({...}); edit it by hand")
		}
		ind := strings.Repeat(" ", tk.Column-1)
		d.replace(tk.Line, d.lastLine(tv), ind+"tools:\n"+ind+"  "+quote(ch.Tool)+":\n"+renderRules(ind+"    ", ch))
		return nil
	}
	step := max(tv.Content[0].Column-tk.Column, 2)
	k, v := get(tv, ch.Tool)
	if k == nil {
		end := d.lastLine(tv)
		ind := strings.Repeat(" ", tv.Content[0].Column-1)
		d.replace(end+1, end, ind+quote(ch.Tool)+":\n"+renderRules(ind+strings.Repeat(" ", step), ch))
		return nil
	}
	if !isBlock(v, yaml.MappingNode) {
		if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
			return fmt.Errorf("edit policy: tools.%s is written in flow style ({...}); edit it by hand", ch.Tool)
		}
		ind := strings.Repeat(" ", k.Column-1)
		d.replace(k.Line, d.lastLine(v), ind+quote(ch.Tool)+":\n"+renderRules(ind+strings.Repeat(" ", step), ch))
		return nil
	}
	rk, rv := get(v, "rules")
	ind := strings.Repeat(" ", v.Content[0].Column-1)
	if rk == nil {
		end := d.lastLine(v)
		d.replace(end+1, end, renderRules(ind, ch))
		return nil
	}
	d.replace(rk.Line, max(rk.Line, d.lastLine(rv)), renderRules(ind, ch))
	return nil
}

// ReadRules reads the rule of each of tools (and of every tool the file
// names under tools or hide) from a policy file, which must load.
func ReadRules(filename string, data []byte, tools []string) ([]ToolRule, *policy.Policy, error) {
	p, err := policy.Load(filename, data)
	if err != nil {
		return nil, nil, err
	}
	d, err := parseDoc(data)
	if err != nil {
		return nil, nil, err
	}
	_, tv := get(d.root, "tools")
	_, hv := get(d.root, "hide")
	names := map[string]bool{}
	for _, t := range tools {
		names[t] = true
	}
	var globs []string
	if tv != nil && tv.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(tv.Content); i += 2 {
			if key := tv.Content[i].Value; strings.Contains(key, "*") {
				if key != "*" {
					globs = append(globs, key)
				}
			} else {
				names[key] = true
			}
		}
	}
	var hideGlobs []string
	if hv != nil && hv.Kind == yaml.SequenceNode {
		for _, it := range hv.Content {
			if strings.Contains(it.Value, "*") {
				hideGlobs = append(hideGlobs, it.Value)
			} else {
				names[it.Value] = true
			}
		}
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	out := make([]ToolRule, 0, len(sorted))
	for _, name := range sorted {
		tr := ToolRule{Tool: name}
		_, own := get(tv, name)
		switch {
		case p.Hidden(name):
			tr.Kind = Hide
			if !slicesContains(hv, name) {
				tr.Via = "hide \"*\""
				for _, g := range hideGlobs {
					if g != "*" && globMatch(g, name) {
						tr.Via = fmt.Sprintf("hide %q", g)
						break
					}
				}
			}
		case own != nil:
			tr.Kind, tr.Limit, tr.Window = classify(own)
		default:
			tr.Kind, tr.Via = Allow, "default"
			if p.DefaultDenies(name) {
				tr.Kind = Deny
			}
			for _, g := range globs {
				if globMatch(g, name) {
					tr.Kind, tr.Via = Custom, fmt.Sprintf("glob %q", g)
					break
				}
			}
		}
		out = append(out, tr)
	}
	return out, p, nil
}

func slicesContains(seq *yaml.Node, s string) bool {
	if seq == nil {
		return false
	}
	for _, it := range seq.Content {
		if it.Value == s {
			return true
		}
	}
	return false
}

// classify reduces a tools entry to a Kind.
func classify(entry *yaml.Node) (Kind, int, string) {
	if entry.Kind == yaml.ScalarNode {
		return Allow, 0, "" // `name:` with nothing: listed, no rules
	}
	if entry.Kind != yaml.MappingNode {
		return Custom, 0, ""
	}
	// validate (required arguments) is kept beside whatever the rule is.
	_, rules := get(entry, "rules")
	for i := 0; i < len(entry.Content); i += 2 {
		if k := entry.Content[i].Value; k != "rules" && k != "validate" {
			return Custom, 0, ""
		}
	}
	if rules == nil {
		return Allow, 0, ""
	}
	if rules.Kind != yaml.SequenceNode {
		return Allow, 0, ""
	}
	if len(rules.Content) == 0 {
		return Allow, 0, ""
	}
	if len(rules.Content) != 1 || rules.Content[0].Kind != yaml.MappingNode {
		return Custom, 0, ""
	}
	r := rules.Content[0]
	for i := 0; i+1 < len(r.Content); i += 2 {
		switch r.Content[i].Value {
		case "name", "reason", "on_deny", "action", "rate_limit":
		default:
			return Custom, 0, "" // conditions, per, state, mode...
		}
	}
	_, action := get(r, "action")
	_, rl := get(r, "rate_limit")
	act := ""
	if action != nil {
		act = action.Value
	}
	switch {
	case rl != nil && (act == "" || act == "evaluate" || act == "allow"):
		if rl.Kind == yaml.ScalarNode {
			n, w, ok := strings.Cut(rl.Value, "/")
			if lim, err := strconv.Atoi(n); ok && err == nil {
				return RateLimit, lim, w
			}
		}
		return Custom, 0, ""
	case rl != nil:
		return Custom, 0, ""
	case act == "deny":
		return Deny, 0, ""
	case act == "require_approval":
		return Approval, 0, ""
	case act == "" || act == "evaluate" || act == "allow":
		return Allow, 0, ""
	}
	return Custom, 0, ""
}

// globMatch is the policy's glob: '*' matches any run of characters.
func globMatch(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return strings.HasSuffix(name, parts[len(parts)-1])
}
