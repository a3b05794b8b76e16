// Package policytest runs policy test files: YAML suites that name a policy
// and list tool calls with the decision each must get. It is what
// `tollgate test` runs in users' CI. Calls are judged the way the gate
// judges them — policy decision, then the counters in a state store — with
// a fresh memory store per test, so stateful rules (rate limits, spend
// caps) are tested by charging `before` calls first.
package policytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/suggest"
)

// Suite is one loaded test file.
type Suite struct {
	// File is the test file's path as given.
	File string
	// Policy is the policy file's path, resolved against File's directory.
	Policy string
	Tests  []Test
}

// Test is one test case.
type Test struct {
	Name    string
	Call    Call
	Before  []Call
	Expect  string // allow, deny or approval_required
	Rule    string // "" means any rule
	Line    int    // position of the test in the file
	Col     int
	HasRule bool
}

// Call is a tool call to judge, or, when Request is set, a client request
// the policy's requests section judges (Args are then its params).
type Call struct {
	Tool     string
	Request  string // resources/read, prompts/get, resources/subscribe or completion/complete
	Args     []byte // a JSON object
	Identity string
}

// Expectations a test may state.
var expectations = []string{"allow", "deny", "approval_required"}

// Load reads and strictly parses a test file: unknown or duplicate keys,
// missing fields and values of the wrong type are all reported, each with
// its file:line:col, as a *policy.LoadError.
func Load(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load test file: %w", err)
	}
	return Parse(path, data)
}

// Parse parses a test file's contents; path names it in problems and
// anchors the relative policy path.
func Parse(path string, data []byte) (*Suite, error) {
	p := &parser{file: path}
	s := p.suite(data)
	if len(p.probs) > 0 {
		sort.SliceStable(p.probs, func(i, j int) bool {
			a, b := p.probs[i], p.probs[j]
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, &policy.LoadError{Problems: p.probs}
	}
	return s, nil
}

type parser struct {
	file  string
	probs []policy.Problem
}

func (p *parser) errf(n *yaml.Node, format string, a ...any) {
	pr := policy.Problem{File: p.file, Msg: fmt.Sprintf(format, a...)}
	if n != nil {
		pr.Line, pr.Col = n.Line, n.Column
	}
	p.probs = append(p.probs, pr)
}

func (p *parser) suite(data []byte) *Suite {
	s := &Suite{File: p.file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		p.probs = append(p.probs, policy.Problem{File: p.file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")})
		return s
	}
	if len(doc.Content) == 0 {
		p.probs = append(p.probs, policy.Problem{File: p.file, Line: 1, Col: 1, Msg: "test file is empty: policy and tests are required"})
		return s
	}
	root := doc.Content[0]
	f := p.fields(root, "the test file", []string{"policy", "tests"}, []string{"policy", "tests"})
	if f == nil {
		return s
	}
	if v, ok := f["policy"]; ok {
		if rel, ok := p.str(v, "policy"); ok {
			s.Policy = rel
			if !filepath.IsAbs(rel) {
				s.Policy = filepath.Join(filepath.Dir(p.file), rel)
			}
		}
	}
	if v, ok := f["tests"]; ok {
		v = deref(v)
		if v.Kind != yaml.SequenceNode {
			p.errf(v, "tests must be a list, got %s", kindName(v))
			return s
		}
		if len(v.Content) == 0 {
			p.errf(v, "tests is empty")
		}
		names := map[string]bool{}
		for i, tn := range v.Content {
			t, ok := p.test(tn, fmt.Sprintf("tests[%d]", i))
			if t.Name != "" && names[t.Name] {
				p.errf(tn, "tests[%d]: duplicate test name %q", i, t.Name)
			}
			names[t.Name] = true
			if ok {
				s.Tests = append(s.Tests, t)
			}
		}
	}
	return s
}

func (p *parser) test(n *yaml.Node, what string) (Test, bool) {
	n = deref(n)
	t := Test{Line: n.Line, Col: n.Column}
	f := p.fields(n, what, []string{"name", "tool", "request", "args", "identity", "before", "expect", "rule"}, []string{"name", "expect"})
	if f == nil {
		return t, false
	}
	before := len(p.probs)
	t.Name, _ = p.str(f["name"], what+".name")
	p.target(n, f, what, &t.Call)
	if v, ok := f["args"]; ok {
		t.Call.Args = p.args(v, what+".args")
	}
	if v, ok := f["identity"]; ok {
		t.Call.Identity, _ = p.str(v, what+".identity")
	}
	if v, ok := f["expect"]; ok {
		if e, ok := p.str(v, what+".expect"); ok {
			if !contains(expectations, e) {
				p.errf(deref(v), "%s.expect must be allow, deny or approval_required, not %q", what, e)
			}
			t.Expect = e
		}
	}
	if v, ok := f["rule"]; ok {
		t.Rule, _ = p.str(v, what+".rule")
		t.HasRule = true
	}
	if v, ok := f["before"]; ok {
		v = deref(v)
		if v.Kind != yaml.SequenceNode {
			p.errf(v, "%s.before must be a list of calls, got %s", what, kindName(v))
		} else {
			for i, cn := range v.Content {
				cw := fmt.Sprintf("%s.before[%d]", what, i)
				cf := p.fields(cn, cw, []string{"tool", "request", "args", "identity"}, nil)
				if cf == nil {
					continue
				}
				var c Call
				p.target(cn, cf, cw, &c)
				if a, ok := cf["args"]; ok {
					c.Args = p.args(a, cw+".args")
				}
				if id, ok := cf["identity"]; ok {
					c.Identity, _ = p.str(id, cw+".identity")
				} else {
					c.Identity = t.Call.Identity
				}
				t.Before = append(t.Before, c)
			}
		}
	}
	return t, len(p.probs) == before
}

// target reads what a call of a test judges, its tool or its request (a
// client request's method), into c: exactly one of the two.
func (p *parser) target(n *yaml.Node, f map[string]*yaml.Node, what string, c *Call) {
	switch tool, req := f["tool"], f["request"]; {
	case tool != nil && req != nil:
		p.errf(req, "%s: give tool (a tool call) or request (a client request), not both", what)
	case tool != nil:
		c.Tool, _ = p.str(tool, what+".tool")
	case req != nil:
		if m, ok := p.str(req, what+".request"); ok {
			if !contains(policy.RequestMethods, m) {
				p.errf(deref(req), "%s.request must be one of %s, not %q%s", what, strings.Join(policy.RequestMethods, ", "), m, suggest.DidYouMean(m, policy.RequestMethods))
			}
			c.Request = m
		}
	default:
		p.errf(n, "%s: tool is required (or request, for a client request)", what)
	}
}

// fields checks that n is a mapping with known, unique keys and the
// required ones present. It returns nil when n is not a mapping.
func (p *parser) fields(n *yaml.Node, what string, allowed, required []string) map[string]*yaml.Node {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, "%s must be a mapping, got %s", what, kindName(n))
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Kind != yaml.ScalarNode:
			p.errf(k, "%s: keys must be strings", what)
		case !contains(allowed, k.Value):
			p.errf(k, "unknown key %q in %s%s", k.Value, what, suggest.DidYouMean(k.Value, allowed))
		case out[k.Value] != nil:
			p.errf(k, "duplicate key %q in %s", k.Value, what)
		default:
			out[k.Value] = v
		}
	}
	for _, r := range required {
		if out[r] == nil {
			p.errf(n, "%s: %s is required", what, r)
		}
	}
	return out
}

func (p *parser) str(n *yaml.Node, what string) (string, bool) {
	if n == nil {
		return "", false
	}
	n = deref(n)
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		p.errf(n, "%s must be a string, got %s", what, kindName(n))
		return "", false
	}
	if n.Value == "" {
		p.errf(n, "%s is empty", what)
		return "", false
	}
	return n.Value, true
}

// args converts a YAML mapping to a JSON object, keeping numbers exactly as
// written.
func (p *parser) args(n *yaml.Node, what string) []byte {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		p.errf(n, "%s must be a mapping, got %s", what, kindName(n))
		return nil
	}
	var b bytes.Buffer
	if err := toJSON(&b, n, 0); err != nil {
		p.errf(err.node, "%s: %s", what, err.msg)
		return nil
	}
	return b.Bytes()
}

type nodeError struct {
	node *yaml.Node
	msg  string
}

func toJSON(b *bytes.Buffer, n *yaml.Node, depth int) *nodeError {
	n = deref(n)
	if depth > 64 {
		return &nodeError{n, "nested too deeply"}
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := deref(n.Content[i])
			if k.Kind != yaml.ScalarNode {
				return &nodeError{k, "keys must be strings"}
			}
			if seen[k.Value] {
				return &nodeError{k, fmt.Sprintf("duplicate key %q", k.Value)}
			}
			seen[k.Value] = true
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k.Value)
			b.WriteByte(':')
			if err := toJSON(b, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := toJSON(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			b.WriteString("null")
		case "!!bool":
			var v bool
			if err := n.Decode(&v); err != nil {
				return &nodeError{n, err.Error()}
			}
			b.WriteString(strconv.FormatBool(v))
		case "!!int", "!!float":
			lit := strings.ReplaceAll(n.Value, "_", "")
			if json.Valid([]byte(lit)) {
				b.WriteString(lit)
				break
			}
			// 0x1F, 0o17, +5, .5: let YAML read them, then write JSON.
			var f float64
			if err := n.Decode(&f); err != nil {
				return &nodeError{n, err.Error()}
			}
			out, err := json.Marshal(f)
			if err != nil {
				return &nodeError{n, fmt.Sprintf("%s is not a JSON number", n.Value)}
			}
			b.Write(out)
		default:
			writeJSONString(b, n.Value)
		}
	default:
		return &nodeError{n, "unsupported YAML value"}
	}
	return nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	out, _ := json.Marshal(s)
	b.Write(out)
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return "a string"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
	}
	return "an unsupported value"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
