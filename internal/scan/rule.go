package scan

import (
	"fmt"
	"strings"
)

// ToolRule is a tool's entry in a policy: the rules the scan recommends as a
// starting point for it. An empty list means "allowed, no checks".
type ToolRule struct {
	Rules []Rule `json:"rules"`
}

// Rule is one policy rule, in the subset of the policy format the scaffold
// uses.
type Rule struct {
	Name      string     `json:"name"`
	Action    string     `json:"action,omitempty"`
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	Validate  *Validate  `json:"validate,omitempty"`
	OnDeny    string     `json:"on_deny,omitempty"`
}

// RateLimit is the {max, window} form; window is in seconds.
type RateLimit struct {
	Max    int `json:"max"`
	Window int `json:"window"`
}

// Validate asks the gate to check arguments against the tool's schema.
type Validate struct {
	RequiredArgs bool `json:"required_args"`
}

// Recommended limits per category.
const (
	writeRateMax   = 30
	executeRateMax = 10
	rateWindow     = 60
)

func suggestRule(tool string, c Category) ToolRule {
	switch c {
	case Write:
		return ToolRule{Rules: []Rule{rateRule(tool, writeRateMax)}}
	case Execute:
		return ToolRule{Rules: []Rule{
			{Name: tool + " required arguments", Validate: &Validate{RequiredArgs: true}},
			rateRule(tool, executeRateMax),
		}}
	case Financial:
		return ToolRule{Rules: []Rule{approvalRule(tool, "moves money or commits to spending")}}
	case Destructive:
		return ToolRule{Rules: []Rule{{
			Name:   "block " + tool,
			Action: "deny",
			OnDeny: tool + " is destructive and is blocked by policy",
		}}}
	}
	return ToolRule{Rules: []Rule{}}
}

func rateRule(tool string, n int) Rule {
	return Rule{
		Name:      tool + " rate limit",
		RateLimit: &RateLimit{Max: n, Window: rateWindow},
		OnDeny:    fmt.Sprintf("Rate limit: at most %d %s calls per minute", n, tool),
	}
}

func approvalRule(tool, why string) Rule {
	return Rule{
		Name:   "approve " + tool,
		Action: "require_approval",
		OnDeny: tool + " " + why + " and needs a person's approval",
	}
}

// alternatives are commented-out rules the scaffold offers beside the
// recommended ones; each is valid added to the recommended rules.
func alternatives(a *Assessment) []alternative {
	tool := a.Name
	switch a.Category {
	case Write, Execute:
		return []alternative{{
			note:  "ask a person to approve every call",
			rules: []Rule{approvalRule(tool, "changes state")},
		}}
	case Financial:
		alts := []alternative{
			{note: "block it outright", rules: []Rule{{Name: "block " + tool, Action: "deny",
				OnDeny: tool + " moves money and is blocked by policy"}}},
			{note: "also cap how often it runs", rules: []Rule{{Name: tool + " daily cap",
				RateLimit: &RateLimit{Max: 5, Window: 86400},
				OnDeny:    "Daily limit of 5 " + tool + " calls reached"}}},
		}
		if p, ok := amountParam(a.params); ok {
			alts = append(alts, alternative{
				note: "also cap the amount of a single call (in the API's units)",
				raw: fmt.Sprintf(`- name: %s
  conditions:
    - path: %s
      op: lte
      value: 10000
  on_deny: %s`, yamlString(tool+" amount cap"), yamlString("args."+p), yamlString("Amounts over 10000 need manual processing")),
			})
		}
		return alts
	case Destructive:
		return []alternative{{
			note:  "let a person approve each call instead (then delete the deny rule)",
			rules: []Rule{approvalRule(tool, "is destructive")},
		}}
	}
	return nil
}

type alternative struct {
	note  string
	rules []Rule
	raw   string // YAML list items, used instead of rules
}

// amountParam finds a top-level numeric amount argument.
func amountParam(params []param) (string, bool) {
	for _, p := range params {
		if p.Depth == 0 && p.Counted && !strings.Contains(p.Path, "[") && (p.Name == "amount" || p.Name == "value") &&
			(isKind(p.Type, "number") || isKind(p.Type, "integer")) {
			return p.Path, true
		}
	}
	return "", false
}
