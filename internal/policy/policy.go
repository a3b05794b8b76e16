// Package policy owns Tollgate's policy language: it parses a version "1"
// YAML policy (Intercept-compatible, with Tollgate's extensions), reports
// every problem with its file:line:col, and compiles it into an immutable
// *Policy whose Decide answers allow, deny or approval_required for a tool
// call, listing the counter charges the gate must reserve. Decide does no
// YAML parsing and no regexp compilation; a *Policy is safe for concurrent
// use and is replaced wholesale on reload.
package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Policy is a compiled policy. It is immutable after Load and safe for
// concurrent use.
type Policy struct {
	revision    string
	mode        Mode
	defaultDeny bool
	approvals   ApprovalConfig
	audit       AuditConfig
	pins        string // pins: off | record | enforce; "" when not given (pins.go)

	inspections map[string]*Inspection // by tool name, "*", resources/read, prompts/get

	hideAll   bool
	hideExact map[string]struct{}
	hideGlobs []string

	exact    map[string]*plan // tools keys without '*'
	globs    []*plan          // glob keys, most specific first
	fallback *plan            // tools matching no key: "*" rules only, not listed
	requests map[string]*plan // requests entries, by method (requests.go)

	// The names the policy governs, as a lenient server reads them
	// (names.go): all of them, and indexed (exact names by their fold,
	// globs in order).
	names     []nameKey
	nameExact map[string][]nameKey
	nameGlobs []nameKey
}

// plan is everything Decide needs for the tools one key matches: the key's
// own rules followed by the "*" rules, split by kind in rule order.
type plan struct {
	key       string
	listed    bool
	denies    []*rule
	checks    []*rule // evaluate rules with argument conditions or validate
	approvals []*rule
	charges   []*rule
	needsArgs bool
}

// Load parses and compiles a policy. filename is used only in problem
// positions. The error, when not nil, is a *LoadError listing every problem.
func Load(filename string, data []byte) (*Policy, error) {
	l := &loader{file: filename, budget: 100000}
	p := l.load(data)
	if len(l.probs) > 0 {
		sortProblems(l.probs)
		return nil, &LoadError{Problems: l.probs}
	}
	p.indexNames()
	sum := sha256.Sum256(data)
	p.revision = hex.EncodeToString(sum[:])
	return p, nil
}

// LoadFile reads and loads the policy at path.
func LoadFile(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	return Load(path, data)
}

// Revision is the hex SHA-256 of the policy's source bytes.
func (p *Policy) Revision() string { return p.revision }

// Mode is the policy-wide mode (enforce unless the policy says monitor).
func (p *Policy) Mode() Mode { return p.mode }

// Approvals returns the approvals section with defaults applied.
func (p *Policy) Approvals() ApprovalConfig { return p.approvals }

// Audit returns the audit section with defaults applied.
func (p *Policy) Audit() AuditConfig {
	a := p.audit
	a.Redact = append([]string(nil), a.Redact...)
	return a
}

// Hidden reports whether tool is on the hide list (by name, glob or "*").
// It does not allocate.
func (p *Policy) Hidden(tool string) bool {
	if p.hideAll {
		return true
	}
	if _, ok := p.hideExact[tool]; ok {
		return true
	}
	for _, g := range p.hideGlobs {
		if globMatch(g, tool) {
			return true
		}
	}
	return false
}

// NeedsArgs reports whether Decide for tool reads the call's arguments (an
// argument condition, validate or increment_from applies). When false the
// gate may pass a Call without Args.
func (p *Policy) NeedsArgs(tool string) bool {
	if p.Hidden(tool) {
		return false
	}
	pl := p.planFor(tool)
	if p.defaultDeny && !pl.listed {
		return false
	}
	return pl.needsArgs
}

// planFor finds the rules for tool: the exact key, else the most specific
// matching glob key, else none; the "*" rules are part of every plan.
func (p *Policy) planFor(tool string) *plan {
	if pl, ok := p.exact[tool]; ok {
		return pl
	}
	for _, pl := range p.globs {
		if globMatch(pl.key, tool) {
			return pl
		}
	}
	return p.fallback
}

// globMatch matches name against pattern, where '*' matches any sequence
// of characters (including none) and every other character matches itself.
func globMatch(pattern, name string) bool {
	px, nx := 0, 0
	starPx, starNx := -1, 0
	for nx < len(name) {
		switch {
		case px < len(pattern) && pattern[px] == '*':
			starPx, starNx = px, nx
			px++
		case px < len(pattern) && pattern[px] == name[nx]:
			px++
			nx++
		case starPx >= 0:
			starNx++
			px, nx = starPx+1, starNx
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// globLess orders glob keys most specific first: more literal characters,
// then fewer '*', then byte order.
func globLess(a, b string) bool {
	la, lb := len(a)-strings.Count(a, "*"), len(b)-strings.Count(b, "*")
	if la != lb {
		return la > lb
	}
	if ca, cb := strings.Count(a, "*"), strings.Count(b, "*"); ca != cb {
		return ca < cb
	}
	return a < b
}

var topKeys = []string{"version", "description", "default", "hide", "tools", "requests", "mode", "approvals", "approval_timeout", "audit", "inspect", "pins"}

func (l *loader) load(data []byte) *Policy {
	p := &Policy{
		hideExact: map[string]struct{}{},
		exact:     map[string]*plan{},
		approvals: ApprovalConfig{Response: "result", Timeout: time.Hour, MaxPending: DefaultMaxPending},
		audit:     AuditConfig{Arguments: "hash"},
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.syntaxError(err)
		return p
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		l.probs = append(l.probs, Problem{File: l.file, Line: 1, Col: 1, Msg: "policy is empty: version is required"})
		return p
	}
	root := doc.Content[0]
	f, ok := l.fields(root, "the policy", topKeys)
	if !ok {
		return p
	}

	if v, ok := f["version"]; !ok {
		l.errf(root, "version is required (version: \"1\")")
	} else if s, ok := l.str(v.val, "version"); ok && s != "1" {
		l.errf(deref(v.val), "unsupported version %q; this Tollgate reads version \"1\"", s)
	}
	if v, ok := f["description"]; ok && !isNull(v.val) {
		l.str(v.val, "description")
	}
	if v, ok := f["default"]; ok {
		if s, ok := l.enum(v.val, "default", []string{"allow", "deny"}); ok {
			p.defaultDeny = s == "deny"
		}
	}
	if v, ok := f["mode"]; ok {
		if s, ok := l.enum(v.val, "mode", []string{"enforce", "monitor"}); ok && s == "monitor" {
			p.mode = Monitor
		}
	}
	if v, ok := f["pins"]; ok {
		p.pins, _ = l.enum(v.val, "pins", pinModes)
	}
	if v, ok := f["hide"]; ok {
		l.hide(p, v.val)
	}
	if v, ok := f["inspect"]; ok {
		l.inspectSection(p, v.val)
	}
	if v, ok := f["approvals"]; ok {
		l.approvals(p, v.val)
	}
	if v, ok := f["approval_timeout"]; ok {
		if _, both := f["approvals"]; both && l.approvalsHasTimeout(f["approvals"].val) {
			l.errf(v.key, "approval_timeout and approvals.timeout are synonyms; give only one")
		} else if d, ok := l.duration(v.val, "approval_timeout"); ok {
			p.approvals.Timeout = d
		}
	}
	if v, ok := f["audit"]; ok {
		l.auditSection(p, v.val)
	}
	c := &compiler{l: l, p: p, counters: map[counterID]*rule{}}
	if v, ok := f["tools"]; ok && !isNull(v.val) {
		c.tools(v.val)
	}
	if v, ok := f["requests"]; ok && !isNull(v.val) {
		c.requests(v.val)
	}
	c.finish()
	return p
}

// syntaxError turns a yaml.v3 error into problems; yaml.v3 reports lines
// but not columns.
func (l *loader) syntaxError(err error) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	lines := strings.Split(msg, "\n")
	for _, m := range lines {
		m = strings.TrimSpace(m)
		if m == "" || m == "unmarshal errors:" {
			continue
		}
		line := 0
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if i := strings.IndexByte(rest, ':'); i > 0 {
				if _, err := fmt.Sscanf(rest[:i], "%d", &line); err == nil {
					m = strings.TrimSpace(rest[i+1:])
				}
			}
		}
		l.probs = append(l.probs, Problem{File: l.file, Line: line, Msg: "invalid YAML: " + m})
	}
}

func (l *loader) hide(p *Policy, n *yaml.Node) {
	items, ok := l.list(n, "hide")
	if !ok {
		return
	}
	seen := map[string]bool{}
	for _, it := range items {
		s, ok := l.str(it, "hide entry")
		if !ok {
			continue
		}
		switch {
		case strings.TrimSpace(s) == "":
			l.errf(it, "hide entry must not be empty")
		case seen[s]:
			l.errf(it, "duplicate hide entry %q", s)
		case s == "*":
			p.hideAll = true
		case strings.Contains(s, "*"):
			p.hideGlobs = append(p.hideGlobs, s)
		default:
			p.hideExact[s] = struct{}{}
		}
		seen[s] = true
	}
	sort.Slice(p.hideGlobs, func(i, j int) bool { return globLess(p.hideGlobs[i], p.hideGlobs[j]) })
}

var approvalKeys = []string{"response", "inline", "dedupe_window", "timeout", "max_pending", "notify", "approvers"}

// DefaultMaxPending is approvals.max_pending when the policy does not set it.
const DefaultMaxPending = 20

func (l *loader) approvalsHasTimeout(n *yaml.Node) bool {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if deref(n.Content[i]).Value == "timeout" {
			return true
		}
	}
	return false
}

func (l *loader) approvals(p *Policy, n *yaml.Node) {
	if isNull(n) {
		return
	}
	f, ok := l.fields(n, "approvals", approvalKeys)
	if !ok {
		return
	}
	if v, ok := f["response"]; ok {
		if s, ok := l.enum(v.val, "approvals.response", []string{"result", "error"}); ok {
			p.approvals.Response = s
		}
	}
	if v, ok := f["inline"]; ok {
		p.approvals.Inline, _ = l.boolean(v.val, "approvals.inline")
	}
	if v, ok := f["dedupe_window"]; ok {
		p.approvals.DedupeWindow, _ = l.duration(v.val, "approvals.dedupe_window")
	}
	if v, ok := f["timeout"]; ok {
		if d, ok := l.duration(v.val, "approvals.timeout"); ok {
			p.approvals.Timeout = d
		}
	}
	if v, ok := f["max_pending"]; ok {
		if n, ok := l.count(v.val, "approvals.max_pending", 1_000_000); ok {
			p.approvals.MaxPending = n
		}
	}
	if v, ok := f["approvers"]; ok {
		l.approvers(p, v.val)
	}
	if v, ok := f["notify"]; ok {
		nf, ok := l.fields(v.val, "approvals.notify", []string{"webhook"})
		if !ok {
			return
		}
		if w, ok := nf["webhook"]; ok {
			wf, ok := l.fields(w.val, "approvals.notify.webhook", []string{"url", "secret"})
			if !ok {
				return
			}
			u, ok := wf["url"]
			if !ok {
				l.errf(w.key, "approvals.notify.webhook.url is required")
			} else if s, ok := l.str(u.val, "approvals.notify.webhook.url"); ok {
				if !strings.HasPrefix(s, "https://") && !strings.HasPrefix(s, "http://") || len(s) <= len("https://") {
					l.errf(deref(u.val), "approvals.notify.webhook.url must be an http:// or https:// URL, got %q", s)
				} else {
					p.approvals.WebhookURL = s
				}
			}
			if sv, ok := wf["secret"]; ok {
				p.approvals.WebhookSecret, _ = l.str(sv.val, "approvals.notify.webhook.secret")
			}
		}
	}
}

func (l *loader) auditSection(p *Policy, n *yaml.Node) {
	if isNull(n) {
		return
	}
	f, ok := l.fields(n, "audit", []string{"arguments", "redact", "required"})
	if !ok {
		return
	}
	if v, ok := f["required"]; ok {
		if b, ok := l.boolean(v.val, "audit.required"); ok {
			p.audit.Required = b
		}
	}
	if v, ok := f["arguments"]; ok {
		if s, ok := l.enum(v.val, "audit.arguments", []string{"none", "hash", "full"}); ok {
			p.audit.Arguments = s
		}
	}
	if v, ok := f["redact"]; ok {
		items, ok := l.list(v.val, "audit.redact")
		if !ok {
			return
		}
		for _, it := range items {
			s, ok := l.str(it, "audit.redact entry")
			if !ok {
				continue
			}
			ap, _, _, err := parsePath(s)
			if err != nil || ap == nil {
				if err == nil {
					err = errors.New("must be an args path")
				}
				l.errf(deref(it), "audit.redact: path %q: %v", s, err)
				continue
			}
			p.audit.Redact = append(p.audit.Redact, s)
		}
	}
}

// AuditRequired reports whether the policy refuses calls while the audit
// trail cannot record them (audit.required).
func (p *Policy) AuditRequired() bool { return p.audit.Required }

// Stateful reports whether any rule keeps counters (rate_limit or state,
// a requests entry's rate limits included), so
// that the caller knows whether it needs a state store at all.
func (p *Policy) Stateful() bool {
	if len(p.fallback.charges) > 0 {
		return true
	}
	for _, pl := range p.exact {
		if len(pl.charges) > 0 {
			return true
		}
	}
	for _, pl := range p.globs {
		if len(pl.charges) > 0 {
			return true
		}
	}
	for _, pl := range p.requests {
		if len(pl.charges) > 0 {
			return true
		}
	}
	return false
}
