package policy

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/tollgate-mcp/tollgate/internal/decimal"

	"github.com/tollgate-mcp/tollgate/internal/state"
)

// brief is the comparable part of a decision.
type brief struct {
	Action  string
	Rule    string
	Reason  string
	Hidden  bool
	Monitor bool
	Charges []string
}

func summarize(d Decision) brief {
	b := brief{Action: d.Action.String(), Rule: d.Rule, Reason: d.Reason, Hidden: d.Hidden, Monitor: d.Monitor}
	for _, c := range d.Charges {
		op := "<="
		if c.Strict {
			op = "<"
		}
		s := c.Key.String() + " +" + c.Amount.Text('f') + " " + op + c.Limit.Text('f') + " /" + c.Window.String()
		if c.Align == state.Calendar {
			s += " calendar"
		}
		if c.RefundOnFailure {
			s += " refund"
		}
		if c.Monitor {
			s += " monitor"
		}
		b.Charges = append(b.Charges, s)
	}
	return b
}

const orderPolicy = `version: "1"
default: allow
hide: [secret_tool, "admin_*"]
tools:
  send_email:
    rules:
      - name: approve external
        action: require_approval
        conditions:
          - {path: args.to, op: regex, value: "@external\\.com$"}
        reason: external recipients need a human
      - name: no attachments
        conditions:
          - {path: args.attachments, op: exists, value: false}
        on_deny: attachments are not allowed
      - name: block ceo
        action: deny
        conditions:
          - {path: args.to, op: eq, value: ceo@corp.com}
        on_deny: never email the CEO
      - name: hourly
        rate_limit: 10/hour
  delete_*:
    rules:
      - name: no deletes
        action: deny
        on_deny: deletion is disabled
  delete_draft:
    rules: []
  "*":
    rules:
      - name: global
        rate_limit: {max: 100, window: 60}
`

func TestDecisionOrder(t *testing.T) {
	p := mustLoad(t, orderPolicy)
	hourly := "send_email/rate_limit:hourly/global +1 <=10 /1h0m0s"
	global := "_global/rate_limit:global/global +1 <=100 /1m0s"
	tests := []struct {
		name string
		call *Call
		want brief
	}{
		{"hidden exact", call("secret_tool", `{}`), brief{Action: "deny", Hidden: true, Reason: `tool "secret_tool" is hidden by policy`}},
		{"hidden glob", call("admin_reset", `{}`), brief{Action: "deny", Hidden: true, Reason: `tool "admin_reset" is hidden by policy`}},
		{"deny beats approval", call("send_email", `{"to":"ceo@corp.com"}`), brief{Action: "deny", Rule: "block ceo", Reason: "never email the CEO"}},
		{"argument condition beats approval", call("send_email", `{"to":"a@external.com","attachments":[]}`),
			brief{Action: "deny", Rule: "no attachments", Reason: "attachments are not allowed"}},
		{"approval with charges", call("send_email", `{"to":"a@external.com"}`),
			brief{Action: "approval_required", Rule: "approve external", Reason: "external recipients need a human", Charges: []string{hourly, global}}},
		{"allow with charges", call("send_email", `{"to":"a@corp.com"}`), brief{Action: "allow", Charges: []string{hourly, global}}},
		{"glob deny", call("delete_repo", `{}`), brief{Action: "deny", Rule: "no deletes", Reason: "deletion is disabled"}},
		{"exact key beats glob", call("delete_draft", `{}`), brief{Action: "allow", Charges: []string{global}}},
		{"unlisted gets star rules", call("other", `{}`), brief{Action: "allow", Charges: []string{global}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, summarize(p.Decide(tt.call))); diff != "" {
				t.Errorf("decision mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultDeny(t *testing.T) {
	p := mustLoad(t, `version: "1"
default: deny
tools:
  read_file:
    rules: []
  "get_*":
    rules: []
  "*":
    rules:
      - name: global
        rate_limit: 60/minute
`)
	tests := []struct {
		tool string
		want brief
	}{
		{"read_file", brief{Action: "allow", Charges: []string{"_global/rate_limit:global/global +1 <=60 /1m0s"}}},
		{"get_weather", brief{Action: "allow", Charges: []string{"_global/rate_limit:global/global +1 <=60 /1m0s"}}},
		// "*" applies to listed tools but does not list anything (as in Intercept).
		{"write_file", brief{Action: "deny", Reason: `tool "write_file" is not permitted by policy`}},
	}
	for _, tt := range tests {
		t.Run(tt.tool, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, summarize(p.Decide(call(tt.tool, `{}`)))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestHidden(t *testing.T) {
	p := mustLoad(t, `version: "1"
hide: [a, "b_*", "*_c", "x*y"]
`)
	for tool, want := range map[string]bool{
		"a": true, "aa": false, "b_1": true, "b_": true, "b": false, "1_c": true, "_c": true,
		"xy": true, "x123y": true, "x123": false, "": false,
	} {
		if got := p.Hidden(tool); got != want {
			t.Errorf("Hidden(%q) = %v, want %v", tool, got, want)
		}
	}
	all := mustLoad(t, "version: \"1\"\nhide: [\"*\"]\n")
	if !all.Hidden("anything") {
		t.Error(`hide "*" must hide every tool`)
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "a", true}, {"a*c", "abbbc", true},
		{"a*c", "abcd", false}, {"*a*b*", "xxaxxbxx", true}, {"*a*b", "ba", false},
		{"a**b", "ab", true}, {"abc", "abc", true}, {"abc", "abd", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.name); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestGlobSpecificity(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  "*_repository":
    rules:
      - {name: a, action: deny}
  "delete_*":
    rules:
      - {name: b, action: deny}
  "delete_reposi*":
    rules:
      - {name: c, action: deny}
`)
	for tool, rule := range map[string]string{
		"delete_repository": "c", // most literal characters
		"delete_issue":      "b",
		"fork_repository":   "a",
	} {
		if d := p.Decide(call(tool, `{}`)); d.Rule != rule {
			t.Errorf("%s: decided by %q, want %q", tool, d.Rule, rule)
		}
	}
}

func TestDerivedNamesStable(t *testing.T) {
	src := `version: "1"
tools:
  create_issue:
    rules:
      - rate_limit: 5/hour
      - rate_limit: 50/day
        on_deny: %s
`
	p1 := mustLoad(t, strings.Replace(src, "%s", "one", 1))
	p2 := mustLoad(t, strings.Replace(src, "%s", "two words", 1))
	c1 := summarize(p1.Decide(call("create_issue", `{}`))).Charges
	c2 := summarize(p2.Decide(call("create_issue", `{}`))).Charges
	want := []string{
		"create_issue/rate_limit:create_issue#1/global +1 <=5 /1h0m0s",
		"create_issue/rate_limit:create_issue#2/global +1 <=50 /24h0m0s",
	}
	if diff := cmp.Diff(want, c1); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(c1, c2); diff != "" {
		t.Errorf("editing on_deny changed the counters (-before +after):\n%s", diff)
	}
	d := p2.Decide(call("create_issue", `{}`))
	if d.Charges[1].Reason != "two words" || d.Charges[0].Reason != "Rate limit of 5 per hour reached. Try again later." {
		t.Errorf("reasons = %q, %q", d.Charges[0].Reason, d.Charges[1].Reason)
	}
	if p1.Revision() == p2.Revision() || len(p1.Revision()) != 64 {
		t.Errorf("revisions %q %q", p1.Revision(), p2.Revision())
	}
}

func TestCharges(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  create_charge:
    rules:
      - name: daily spend cap
        conditions:
          - {path: state.create_charge.daily_spend, op: lte, value: 1000000}
        state: {counter: daily_spend, window: day, increment_from: args.amount}
        per: identity
      - name: strict spend
        conditions:
          - {path: state.create_charge.hourly_spend, op: lt, value: 100.5}
        state: {counter: hourly_spend, window: 1h, increment_from: args.nested.amount}
        refund_on_failure: false
  create_refund:
    rules:
      - name: daily refund count
        conditions:
          - {path: "state.create_refund.daily_count", op: lt, value: 10}
        state: {counter: daily_count, window: day}
        on_deny: Daily refund limit (10) reached
      - name: weighted
        conditions:
          - {path: "state.create_refund.weight", op: lte, value: 10}
        state: {counter: weight, window: 90s, increment: 2.5}
        per: session
        align: sliding
      - name: calendar
        rate_limit: 3/day
        align: calendar
        timezone: Europe/Paris
        refund_on_failure: true
`)
	c := call("create_charge", `{"amount":0.50,"nested":{"amount":7}}`)
	c.Identity = "alice"
	got := summarize(p.Decide(c))
	want := brief{Action: "allow", Charges: []string{
		"create_charge/daily_spend/identity:alice +0.50 <=1000000 /24h0m0s refund",
		"create_charge/hourly_spend/global +7 <100.5 /1h0m0s",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spend (-want +got):\n%s", diff)
	}

	c = call("create_refund", `{}`)
	c.Session = "s1"
	d := p.Decide(c)
	got = summarize(d)
	want = brief{Action: "allow", Charges: []string{
		// Intercept: lt 10 means the total after the call stays below 10.
		"create_refund/daily_count/global +1 <10 /24h0m0s",
		"create_refund/weight/session:s1 +2.5 <=10 /1m30s",
		"create_refund/rate_limit:calendar/global +1 <=3 /24h0m0s calendar refund",
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if d.Charges[0].Reason != "Daily refund limit (10) reached" || d.Charges[0].RefundOnFailure || !d.Charges[0].KeepOnRefund {
		t.Errorf("charge 0 = %+v", d.Charges[0])
	}
	if loc := d.Charges[2].Location; loc == nil || loc.String() != "Europe/Paris" {
		t.Errorf("calendar location = %v", loc)
	}
	if d.Charges[2].KeepOnRefund {
		t.Error("refund_on_failure: true must clear KeepOnRefund")
	}
}

func TestAmounts(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  pay:
    rules:
      - name: cap
        conditions:
          - {path: state.pay.spend, op: lte, value: 100}
        state: {counter: spend, window: day, increment_from: args.amount}
`)
	tests := []struct {
		args       string
		wantAmount string // "" means denied
		wantReason string
		noCharge   bool
	}{
		{`{"amount":0.50}`, "0.50", "", false},
		{`{"amount":12345678901234567890.123456789}`, "12345678901234567890.123456789", "", false},
		{`{"amount":0}`, "", "", true},
		{`{"amount":-1}`, "", `rule "cap": amount args.amount is negative`, false},
		{`{"amount":"10"}`, "", `rule "cap": amount args.amount is not a number`, false},    // strings are never guessed
		{`{"amount":"1e3"}`, "", `rule "cap": amount args.amount is not a number`, false},   // strings are never guessed
		{`{"amount":" 12 "}`, "", `rule "cap": amount args.amount is not a number`, false},  // strings are never guessed
		{`{"amount":"0x10"}`, "", `rule "cap": amount args.amount is not a number`, false},  // strings are never guessed
		{`{"amount":"1_000"}`, "", `rule "cap": amount args.amount is not a number`, false}, // strings are never guessed
		{`{"amount":"١٢"}`, "", `rule "cap": amount args.amount is not a number`, false},    // strings are never guessed
		{`{"amount":9007199254740993.5}`, "9007199254740994", "", false},
		{`{"amount":"-0"}`, "", `rule "cap": amount args.amount is not a number`, false}, // strings are never guessed
		{`{"amount":-0}`, "", "", true},
		{`{"amount":"Infinity"}`, "", `rule "cap": amount args.amount is not a number`, false}, // strings are never guessed
		{`{"amount":"12abc"}`, "", `rule "cap": amount args.amount is not a number`, false},
		{`{"amount":"-5"}`, "", `rule "cap": amount args.amount is not a number`, false}, // strings are never guessed
		{`{"amount":1e-400}`, "", `rule "cap": amount args.amount is out of range`, false},
		{`{"amount":null}`, "", `rule "cap": amount args.amount is not a number`, false},
		{`{"amount":"NaN"}`, "", `rule "cap": amount args.amount is not a number`, false},
		{`{"amount":1e999}`, "", `rule "cap": amount args.amount is out of range`, false},
		{`{}`, "", `rule "cap": amount args.amount is missing`, false},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			d := p.Decide(call("pay", tt.args))
			switch {
			case tt.noCharge:
				if d.Action != Allow || len(d.Charges) != 0 {
					t.Errorf("got %v with %d charges, want allow with none", d.Action, len(d.Charges))
				}
			case tt.wantAmount == "":
				if d.Action != Deny || d.Reason != tt.wantReason || d.Rule != "cap" {
					t.Errorf("got %v %q %q, want deny %q", d.Action, d.Rule, d.Reason, tt.wantReason)
				}
			default:
				if d.Action != Allow || len(d.Charges) != 1 {
					t.Fatalf("got %v with %d charges", d.Action, len(d.Charges))
				}
				want, _ := decimal.Parse(tt.wantAmount)
				if d.Charges[0].Amount.Cmp(&want) != 0 || d.Charges[0].Amount.Text('f') != tt.wantAmount {
					t.Errorf("amount = %s, want %s", d.Charges[0].Amount.Text('f'), tt.wantAmount)
				}
			}
		})
	}
}

func TestValidateRequiredArgs(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  send:
    validate: {required_args: true}
  rule_level:
    rules:
      - name: req
        validate: {required_args: true}
        on_deny: fill in every required argument
`)
	tests := []struct {
		name string
		call Call
		want brief
	}{
		{"all present", Call{Tool: "send", Args: []byte(`{"to":"a","body":null}`), Required: []string{"to", "body"}, SchemaKnown: true}, brief{Action: "allow"}},
		{"missing", Call{Tool: "send", Args: []byte(`{"to":"a"}`), Required: []string{"to", "body"}, SchemaKnown: true},
			brief{Action: "deny", Rule: "send#validate", Reason: `missing required argument "body"`}},
		{"schema unknown", Call{Tool: "send", Args: []byte(`{}`)},
			brief{Action: "deny", Rule: "send#validate", Reason: `cannot check required arguments of "send": its schema is unknown (tools/list not seen)`}},
		{"rule level", Call{Tool: "rule_level", Args: []byte(`{}`), Required: []string{"x"}, SchemaKnown: true},
			brief{Action: "deny", Rule: "req", Reason: "fill in every required argument"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, summarize(p.Decide(&tt.call))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if !p.NeedsArgs("send") || p.NeedsArgs("other") {
		t.Error("NeedsArgs wrong")
	}
}

func TestMonitor(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  t:
    rules:
      - name: watch
        mode: monitor
        conditions: [{path: args.n, op: lte, value: 5}]
      - name: enforce
        conditions: [{path: args.n, op: lte, value: 10}]
      - name: count
        rate_limit: 5/minute
        mode: monitor
`)
	tests := []struct {
		args string
		want brief
	}{
		{`{"n":1}`, brief{Action: "allow", Charges: []string{"t/rate_limit:count/global +1 <=5 /1m0s monitor"}}},
		{`{"n":7}`, brief{Action: "deny", Rule: "watch", Monitor: true, Reason: `denied by rule "watch": args.n lte 5 does not hold`,
			Charges: []string{"t/rate_limit:count/global +1 <=5 /1m0s monitor"}}},
		{`{"n":70}`, brief{Action: "deny", Rule: "enforce", Reason: `denied by rule "enforce": args.n lte 10 does not hold`}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, summarize(p.Decide(call("t", tt.args)))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.args, diff)
		}
	}

	pm := mustLoad(t, "version: \"1\"\nmode: monitor\ntools:\n  t:\n    rules:\n      - {name: d, action: deny}\n")
	if d := pm.Decide(call("t", `{}`)); d.Action != Deny || !d.Monitor || pm.Mode() != Monitor {
		t.Errorf("monitor policy: %+v", d)
	}
}

func TestDefaultReasons(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  t:
    rules:
      - {name: num, conditions: [{path: args.n, op: lte, value: 5}]}
  d:
    rules:
      - {action: deny}
  a:
    rules:
      - {action: require_approval}
`)
	tests := []struct {
		tool, args string
		want       brief
	}{
		{"t", `{}`, brief{Action: "deny", Rule: "num", Reason: `denied by rule "num": args.n is missing`}},
		{"t", `{"n":"3"}`, brief{Action: "deny", Rule: "num", Reason: `denied by rule "num": args.n is not a number`}},
		{"t", `{"n":6}`, brief{Action: "deny", Rule: "num", Reason: `denied by rule "num": args.n lte 5 does not hold`}},
		{"d", `{}`, brief{Action: "deny", Rule: "d#1", Reason: `denied by rule "d#1"`}},
		{"a", `{}`, brief{Action: "approval_required", Rule: "a#1", Reason: `approval required by rule "a#1"`}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, summarize(p.Decide(call(tt.tool, tt.args)))); diff != "" {
			t.Errorf("%s %s (-want +got):\n%s", tt.tool, tt.args, diff)
		}
	}
}

func TestExplain(t *testing.T) {
	p := mustLoad(t, orderPolicy)
	d, steps := p.Explain(call("send_email", `{"to":"a@external.com","attachments":["x"]}`))
	if d.Action != Deny || d.Rule != "no attachments" {
		t.Fatalf("decision %v", d)
	}
	want := []Step{
		{Kind: "default", Note: `tools key "send_email" matches`},
		{Kind: "condition", Rule: "block ceo", Path: "args.to", Op: "eq", Expected: `"ceo@corp.com"`, Value: `"a@external.com"`},
		{Kind: "deny", Rule: "block ceo"},
		{Kind: "condition", Rule: "no attachments", Path: "args.attachments", Op: "exists", Expected: "false", Value: `["x"]`},
	}
	if diff := cmp.Diff(want, steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if got := p.Decide(call("send_email", `{"to":"a@external.com","attachments":["x"]}`)); !cmp.Equal(summarize(got), summarize(d)) {
		t.Error("Explain and Decide disagree")
	}
}

func TestAccessors(t *testing.T) {
	p := mustLoad(t, `version: "1"
approvals:
  response: error
  inline: true
  dedupe_window: 5m
  timeout: 600
  max_pending: 5
  notify:
    webhook: {url: "https://hooks.example.com/x", secret: s3cret}
audit:
  arguments: full
  redact: [args.card.number, 'args["api-key"]']
`)
	want := ApprovalConfig{Response: "error", Inline: true, DedupeWindow: 5 * time.Minute, Timeout: 10 * time.Minute, MaxPending: 5,
		WebhookURL: "https://hooks.example.com/x", WebhookSecret: "s3cret"}
	if diff := cmp.Diff(want, p.Approvals()); diff != "" {
		t.Errorf("approvals (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(AuditConfig{Arguments: "full", Redact: []string{"args.card.number", `args["api-key"]`}}, p.Audit()); diff != "" {
		t.Errorf("audit (-want +got):\n%s", diff)
	}
	def := mustLoad(t, "version: \"1\"\napproval_timeout: 2h\n")
	if diff := cmp.Diff(ApprovalConfig{Response: "result", Timeout: 2 * time.Hour, MaxPending: DefaultMaxPending}, def.Approvals(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if def.Audit().Arguments != "hash" || def.Mode() != Enforce {
		t.Errorf("audit default %q mode %v", def.Audit().Arguments, def.Mode())
	}
}

// TestPathWithinReadsEscapes: an evaluate rule's path_within must hold as
// the path is written and as a server that decodes percent-escapes reads
// it; one that holds only as written fails (deny).
func TestPathWithinReadsEscapes(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  write_file:
    rules:
      - name: data only
        conditions: [{path: args.path, op: path_within, value: /srv/data}]
`)
	for args, want := range map[string]Action{
		`{"path":"/srv/data/x"}`:              Allow,
		`{"path":"/srv/data/caf%C3%A9"}`:      Allow,
		`{"path":"/srv/data/100%25"}`:         Allow,
		`{"path":"/srv/data/%2e%2e/etc"}`:     Deny,
		`{"path":"/srv/data/%252e%252e/etc"}`: Deny,
		`{"path":"/srv/dat%61/x"}`:            Deny,
		`{"path":"/etc/passwd"}`:              Deny,
		// A file: URI is read as its path.
		`{"path":"file:///srv/data/x"}`:             Allow,
		`{"path":"FILE://localhost/srv/data/x"}`:    Allow,
		`{"path":"file:/srv/data/x"}`:               Allow,
		`{"path":"file:///srv/data/%2e%2e/etc"}`:    Deny,
		`{"path":"file:///etc/passwd"}`:             Deny,
		`{"path":"file://other/srv/data/x"}`:        Deny, // another machine's path
		`{"path":"file:///srv/data/x?../../etc"}`:   Allow,
		`{"path":"file:///srv/data/../../etc#x"}`:   Deny,
		`{"path":"file:///srv/data/a?/../../../e"}`: Deny, // with its query, a path outside
	} {
		if d := p.Decide(call("write_file", args)); d.Action != want {
			t.Errorf("%s: got %v, want %v", args, d.Action, want)
		}
	}
}

// A deny rule's path_within reads a file: URI as its path, and the denial
// says so.
func TestPathWithinReadsFileURIs(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  read:
    rules:
      - name: no etc
        action: deny
        conditions: [{path: args.uri, op: path_within, value: /etc}]
`)
	for args, want := range map[string]Action{
		`{"uri":"file:///etc/shadow"}`:           Deny,
		`{"uri":"file://localhost/etc/shadow"}`:  Deny,
		`{"uri":"file:///%65tc/shadow"}`:         Deny,
		`{"uri":"file:///home/me/notes"}`:        Allow,
		`{"uri":"file:///home/me/notes?x=/etc"}`: Allow,
		`{"uri":"file://server/etc/shadow"}`:     Deny, // cannot be judged: fails closed
		`{"uri":"https://example.com/etc/x"}`:    Deny,
	} {
		if d := p.Decide(call("read", args)); d.Action != want {
			t.Errorf("%s: got %v, want %v", args, d.Action, want)
		}
	}
	d := p.Decide(call("read", `{"uri":"file:///etc/shadow"}`))
	if !strings.Contains(d.Reason, "read as the path of a file: URI (/etc/shadow)") {
		t.Errorf("reason %q", d.Reason)
	}
}

func TestDenyAndApprovalConditionsFailClosed(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  read_file:
    rules:
      - name: no etc
        action: deny
        conditions: [{path: args.path, op: path_within, value: /etc}]
  pay:
    rules:
      - name: big
        action: require_approval
        conditions: [{path: args.amount, op: gt, value: 100}]
`)
	tests := []struct {
		tool, args string
		want       Action
	}{
		{"read_file", `{"path":"/etc/passwd"}`, Deny},
		{"read_file", `{"path":"/srv/../etc/passwd"}`, Deny},
		{"read_file", `{"path":"/srv/x"}`, Allow},
		{"read_file", `{"path":"etc/passwd"}`, Deny}, // relative: cannot be judged
		// Percent-escaped dots and separators: a server that decodes the
		// path reads /srv/../etc/passwd. Cannot be judged.
		{"read_file", `{"path":"/srv/%2e%2e/etc/passwd"}`, Deny},
		{"read_file", `{"path":"/srv/%2E%2E%2Fetc/passwd"}`, Deny},
		{"read_file", `{"path":"/srv/..%5cetc/passwd"}`, Deny},
		{"read_file", `{"path":"/srv/x%00"}`, Deny},
		{"read_file", `{"path":"/srv/100%25/x"}`, Allow}, // an escaped '%' is no separator
		{"read_file", `{"path":"/srv/50%"}`, Allow},
		// Any other escape: the rule also reads the path decoded, once
		// and again, as a server that decodes it (twice) does.
		{"read_file", `{"path":"/%65tc/passwd"}`, Deny},
		{"read_file", `{"path":"/%45TC/passwd"}`, Deny},
		{"read_file", `{"path":"/%2565tc/passwd"}`, Deny},
		{"read_file", `{"path":"/srv/%252e%252e/etc/passwd"}`, Deny},
		{"read_file", `{"path":"/srv/caf%C3%A9"}`, Allow},
		{"read_file", `{"path":"/srv/%65tc"}`, Allow},
		// A case-insensitive file system reads /ETC as /etc.
		{"read_file", `{"path":"/ETC/passwd"}`, Deny},
		{"read_file", `{"path":"/srv/../Etc/passwd"}`, Deny},
		{"read_file", `{"path":"/etcetera"}`, Allow},
		{"read_file", `{"path":["/etc/passwd"]}`, Deny},
		{"read_file", `{}`, Deny},
		{"pay", `{"amount":50}`, Allow},
		{"pay", `{"amount":500}`, RequireApproval},
		{"pay", `{"amount":"500"}`, RequireApproval},
		{"pay", `{}`, RequireApproval},
	}
	for _, tt := range tests {
		if d := p.Decide(call(tt.tool, tt.args)); d.Action != tt.want {
			t.Errorf("%s %s: got %v, want %v", tt.tool, tt.args, d.Action, tt.want)
		}
	}
}

// TestChargeNames: each charge is named as its counter's key, per global,
// session and identity, and a global counter's name is made once, not
// again for every call.
func TestChargeNames(t *testing.T) {
	p, err := Load("p.yaml", []byte(`version: "1"
tools:
  pay:
    rules:
      - name: all
        rate_limit: 100/minute
      - name: each session
        rate_limit: 10/minute
        per: session
      - name: each identity
        rate_limit: 10/minute
        per: identity
`))
	if err != nil {
		t.Fatal(err)
	}
	var first string
	for i, who := range []string{"s1", "s2"} {
		c := call("pay", `{}`)
		c.Session, c.Identity = who, "id-"+who
		d := p.Decide(c)
		if len(d.Charges) != 3 {
			t.Fatalf("%d charges, want 3", len(d.Charges))
		}
		for _, ch := range d.Charges {
			if ch.Name != ch.Key.String() {
				t.Errorf("charge of %s named %q, want %q", ch.Rule, ch.Name, ch.Key.String())
			}
		}
		if i == 0 {
			first = d.Charges[0].Name
		} else if unsafe.StringData(d.Charges[0].Name) != unsafe.StringData(first) {
			t.Error("the global counter's name was made again for the second call")
		}
	}
}
