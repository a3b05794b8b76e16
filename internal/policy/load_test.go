package policy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const fixturesDir = "../../../shared/fixtures/intercept-policies"

func TestInterceptFixturesLoad(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(fixturesDir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Skipf("fixtures directory %s not found (CI clones shared/ beside the repository)", fixturesDir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := LoadFile(f); err != nil {
				t.Errorf("LoadFile: %v", err)
			}
		})
	}
}

func TestInterceptFixtureSemantics(t *testing.T) {
	f := filepath.Join(fixturesDir, "testdata-valid_policy.yaml")
	if _, err := os.Stat(f); err != nil {
		t.Skipf("fixture %s not found", f)
	}
	p, err := LoadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Decide(call("create_charge", `{"amount":60000,"currency":"usd"}`))
	if d.Action != Deny || d.Reason != "Single charge cannot exceed $500.00" {
		t.Errorf("over cap: %v", d)
	}
	d = p.Decide(call("create_charge", `{"amount":100,"currency":"gbp"}`))
	if d.Reason != "Only USD and EUR charges are permitted" {
		t.Errorf("currency: %v", d)
	}
	d = p.Decide(call("create_charge", `{"amount":100,"currency":"usd"}`))
	got := summarize(d)
	want := brief{Action: "allow", Charges: []string{
		"create_charge/daily_spend/global +100 <1000000 /24h0m0s refund",
		"_global/calls_per_minute/global +1 <60 /1m0s",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if d := p.Decide(call("delete_customer", `{}`)); d.Reason != "Customer deletion is not permitted via AI agents" {
		t.Errorf("delete: %v", d)
	}
}

func loadProblems(t *testing.T, src string) []string {
	t.Helper()
	_, err := Load("p.yaml", []byte(src))
	if err == nil {
		t.Fatalf("Load succeeded, want problems\n%s", src)
	}
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %T is not *LoadError", err)
	}
	var out []string
	for _, p := range le.Problems {
		out = append(out, p.String())
	}
	if strings.Join(out, "\n") != err.Error() {
		t.Errorf("Error() = %q, want the problems joined", err.Error())
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"misspelt key", `version: "1"
tools:
  t:
    rules:
      - name: r
        condtions: []
`, []string{`p.yaml:6:9: unknown key "condtions" in tools.t.rules[0] (did you mean "conditions"?)`}},
		{"all problems at once", `version: "2"
default: denny
hide: [a, a, ""]
tools:
  t:
    rules:
      - name: r
        action: evalute
        conditions:
          - {path: args.n, op: lessthan, value: 1}
          - {path: args.n, op: lte, value: "100"}
          - {path: args.s, op: regex, value: "(("}
          - {path: "args[", op: eq, value: 1}
          - {path: amount, op: eq, value: 1}
          - {path: args.n, op: in, value: 3}
          - {path: args.n, op: exists, value: "yes"}
          - {path: args.n, op: eq}
        on_deny: a
        reason: b
      - name: r
`, []string{
			`p.yaml:1:10: unsupported version "2"; this Tollgate reads version "1"`,
			`p.yaml:2:10: default must be one of allow, deny, got "denny" (did you mean "deny"?)`,
			`p.yaml:3:11: duplicate hide entry "a"`,
			`p.yaml:3:14: hide entry must not be empty`,
			`p.yaml:8:17: rule "r": action must be one of evaluate, allow, deny, require_approval, got "evalute" (did you mean "evaluate"?)`,
			`p.yaml:10:32: rule "r": conditions[0]: unknown operator "lessthan"`,
			`p.yaml:11:44: rule "r": conditions[1]: operator "lte" needs a number (quoted numbers are strings), got a string`,
			`p.yaml:12:46: rule "r": conditions[2]: invalid regular expression "((": error parsing regexp: missing closing ): ` + "`((`",
			`p.yaml:13:20: rule "r": conditions[3]: path "args[": missing ']'`,
			`p.yaml:14:20: rule "r": conditions[4]: path "amount": a path must start with "args." or "state."`,
			`p.yaml:15:43: rule "r": conditions[5]: operator "in" needs a list, got an integer`,
			`p.yaml:16:47: rule "r": conditions[6]: operator "exists" needs true or false, got a string`,
			`p.yaml:17:13: rule "r": conditions[7]: value is required`,
			`p.yaml:19:9: rule "r": on_deny and reason are synonyms; give only one`,
			`p.yaml:20:9: duplicate rule name "r" in tools.t (first at line 7)`,
		}},
		{"version missing", "tools: {}\n", []string{`p.yaml:1:1: version is required (version: "1")`}},
		{"empty", "", []string{`p.yaml:1:1: policy is empty: version is required`}},
		{"duplicate keys", `version: "1"
tools:
  t:
    rules: []
  t:
    rules: []
`, []string{`p.yaml:5:3: duplicate key "t" in tools (first at line 3)`}},
		{"yaml syntax", "version: \"1\"\ntools: [\n", []string{`p.yaml:2: invalid YAML: did not find expected node content`}},
		{"wrong types", `version: "1"
hide: a
tools:
  t:
    rules: 5
  u: [1]
`, []string{
			`p.yaml:2:7: hide must be a list, got a string`,
			`p.yaml:5:12: tools.t.rules must be a list, got an integer`,
			`p.yaml:6:6: tools.u must be a mapping, got a list`,
		}},
		{"state problems", `version: "1"
tools:
  t:
    rules:
      - name: no limit
        state: {counter: c, window: day}
      - name: wrong op
        conditions: [{path: state.t.d, op: gt, value: 1}]
        state: {counter: d, window: day}
      - name: impossible
        conditions: [{path: state.t.e, op: lt, value: 1}]
        state: {counter: e, window: day}
      - name: other counter
        conditions: [{path: state.t.zz, op: lte, value: 1}]
      - name: reads other
        conditions: [{path: state.t.f, op: lte, value: 5}]
      - name: owner
        conditions: [{path: state.t.f, op: lte, value: 5}]
        state: {counter: f, window: week, increment: 0}
        timezone: UTC
        per: everyone
`, []string{
			`p.yaml:6:16: rule "no limit": state counter state.t.c has no limit; add a condition {path: "state.t.c", op: lte, value: N}`,
			`p.yaml:8:44: rule "wrong op": conditions[0]: a counter can only be limited with lt or lte, got "gt"`,
			`p.yaml:11:55: rule "impossible": the limit state.t.e lt 1 can never admit a call that adds 1`,
			`p.yaml:14:29: rule "other counter": condition reads counter state.t.zz which no rule increments`,
			`p.yaml:16:29: rule "reads other": condition reads counter state.t.f, which rule "owner" increments; a counter limit must be in the rule that increments it`,
			`p.yaml:19:37: rule "owner": state.window: window must be second, minute, hour, day or a duration such as "90s", got "week"`,
			`p.yaml:19:54: rule "owner": state.increment must be a positive number`,
			`p.yaml:20:9: rule "owner": timezone applies only with align: calendar`,
			`p.yaml:21:14: rule "owner": per must be one of global, session, identity, got "everyone"`,
		}},
		{"rate limit problems", `version: "1"
tools:
  t:
    rules:
      - {name: a, rate_limit: 5/week}
      - {name: b, rate_limit: 0/hour}
      - {name: c, rate_limit: {max: 5}}
      - {name: d, rate_limit: 5/hour, action: deny}
      - {name: e, rate_limit: 5/hour, conditions: [{path: args.x, op: exists, value: true}]}
      - {name: f, rate_limit: 5/minute, align: calendar, timezone: Mars/Base}
      - {name: g, rate_limit: {max: 5, window: 90s}, align: calendar}
      - {name: h, per: session}
`, []string{
			`p.yaml:5:31: rule "a": rate_limit: window must be second, minute, hour, day or a duration such as "90s", got "week"`,
			`p.yaml:6:31: rule "b": rate_limit must be "N/window" with N a positive integer (e.g. "5/hour"), got "0/hour"`,
			`p.yaml:7:31: rule "c": rate_limit needs both max and window`,
			`p.yaml:8:19: rule "d": rate_limit is only allowed on evaluate/allow rules`,
			`p.yaml:9:19: rule "e": rate_limit cannot be combined with conditions; use separate rules`,
			`p.yaml:10:68: rule "f": unknown timezone "Mars/Base" (use an IANA name such as "Europe/Paris" or "UTC")`,
			`p.yaml:11:61: rule "g": align: calendar needs a window of one second, minute, hour or day, got 1m30s`,
			`p.yaml:12:19: rule "h": per applies only to rules with rate_limit or state`,
		}},
		{"sections", `version: "1"
mode: monitr
approval_timeout: 1h
approvals:
  timeout: 2h
  respons: error
  notify:
    webhook: {url: "ftp://x"}
audit:
  arguments: some
  redact: [password]
`, []string{
			`p.yaml:2:7: mode must be one of enforce, monitor, got "monitr" (did you mean "monitor"?)`,
			`p.yaml:3:1: approval_timeout and approvals.timeout are synonyms; give only one`,
			`p.yaml:6:3: unknown key "respons" in approvals (did you mean "response"?)`,
			`p.yaml:8:20: approvals.notify.webhook.url must be an http:// or https:// URL, got "ftp://x"`,
			`p.yaml:10:14: audit.arguments must be one of none, hash, full, got "some" (did you mean "none"?)`,
			`p.yaml:11:12: audit.redact: path "password": a path must start with "args." or "state."`,
		}},
		{"numbers", `version: "1"
tools:
  t:
    rules:
      - conditions:
          - {path: args.n, op: lte, value: 0755}
          - {path: args.n, op: lte, value: .inf}
          - {path: args.n, op: max_len, value: -1}
          - {path: args.n, op: max_len, value: 1.5}
          - {path: args.n, op: in, value: []}
          - {path: args.n, op: path_within, value: relative/dir}
          - {path: args.n, op: contains, value: [a]}
`, []string{
			`p.yaml:6:44: rule "t#1": conditions[0]: value: "0755": a number with a leading zero is ambiguous (octal in YAML 1.1); remove the zero or quote it`,
			`p.yaml:7:44: rule "t#1": conditions[1]: value: ".inf": not a finite number`,
			`p.yaml:8:48: rule "t#1": conditions[2]: operator "max_len" needs a non-negative integer, got an integer`,
			`p.yaml:9:48: rule "t#1": conditions[3]: operator "max_len" needs a non-negative integer, got a number`,
			`p.yaml:10:43: rule "t#1": conditions[4]: "in" with an empty list can never hold`,
			`p.yaml:11:52: rule "t#1": conditions[5]: path_within directories must be absolute slash-separated paths, got "relative/dir"`,
			`p.yaml:12:49: rule "t#1": conditions[6]: operator "contains" needs a string, number, boolean or null, got a list`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadProblems(t, tt.src)
			if os.Getenv("DUMP") != "" {
				for _, g := range got {
					fmt.Printf("\t\t\t%#v,\n", g)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadAccepts(t *testing.T) {
	for name, src := range map[string]string{
		"unquoted version":   "version: 1\n",
		"tool without rules": "version: \"1\"\ntools:\n  t:\n  u: {}\n",
		"aliases": `version: "1"
tools:
  a:
    rules:
      - name: r
        conditions: &c
          - {path: args.x, op: eq, value: 1}
  b:
    rules:
      - name: r
        conditions: *c
`,
		"rate limit forms": `version: "1"
tools:
  t:
    rules:
      - {name: a, rate_limit: 5/second}
      - {name: b, rate_limit: "5 / minute"}
      - {name: c, rate_limit: {max: 5, window: 3600}}
      - {name: d, rate_limit: {max: 5, window: "1h30m"}}
      - {name: e, rate_limit: {max: 5, window: day}, align: calendar, timezone: America/New_York}
      - {name: f, rate_limit: 10/90s}
`,
		"state path with dotted tool": `version: "1"
tools:
  github.create_issue:
    rules:
      - conditions: [{path: state.github.create_issue.n, op: lte, value: 3}]
        state: {counter: n, window: hour}
      - conditions: [{path: 'state["github.create_issue"].m', op: lte, value: 3}]
        state: {counter: m, window: hour}
`,
	} {
		t.Run(name, func(t *testing.T) {
			mustLoad(t, src)
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want ErrNotExist", err)
	}
}
