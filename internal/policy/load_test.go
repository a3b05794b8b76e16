package policy

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

// corpusDir holds our own policies in Intercept's format (testdata/README.md);
// together they use every form DESIGN.md §2 promises to load.
const corpusDir = "../../testdata/intercept-policies"

// sharedFixturesDir holds Intercept's published policies, when a checkout of
// the shared fixtures sits beside the repository. Tests over it are an extra:
// they run only when that folder exists.
const sharedFixturesDir = "../../../shared/fixtures/intercept-policies"

// policyFiles lists the *.yaml files of dir and fails the test when there
// are none.
func policyFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no policies in %s", dir)
	}
	return files
}

func TestInterceptCorpusLoads(t *testing.T) {
	for _, f := range policyFiles(t, corpusDir) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := LoadFile(f); err != nil {
				t.Errorf("LoadFile: %v", err)
			}
		})
	}
}

// TestInterceptCorpusCoversFormats fails when a form of Intercept's format
// (or of the catalogue pages) is used by none of the corpus policies, so
// that the corpus keeps proving what DESIGN.md §2 promises.
func TestInterceptCorpusCoversFormats(t *testing.T) {
	want := []string{
		`version "1"`, "description", "default allow", "default deny", "hide", "tools", `tool "*"`, "rules []",
		"rule name", "rule without name",
		"action evaluate", "action allow", "action deny", "action require_approval",
		"on_deny", "reason",
		"op eq", "op neq", "op in", "op not_in", "op lt", "op lte", "op gt", "op gte", "op regex", "op contains", "op exists",
		"state.counter", "state.window", "state.increment", "state.increment_from",
		"window minute", "window hour", "window day",
		`rate_limit "N/window"`, "rate_limit {max, window: seconds}", "rate_limit {max, window: duration}",
		"validate on a tool", "validate on a rule",
	}
	seen := map[string]bool{}
	for _, f := range policyFiles(t, corpusDir) {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(src, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		formsOf(doc.Content[0], seen)
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("no corpus policy uses %s", w)
		}
	}
}

// formsOf records in seen the forms a policy document uses, named as in
// TestInterceptCorpusCoversFormats.
func formsOf(root *yaml.Node, seen map[string]bool) {
	get := func(m *yaml.Node, key string) *yaml.Node {
		if m == nil || m.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				return m.Content[i+1]
			}
		}
		return nil
	}
	if v := get(root, "version"); v != nil && v.Value == "1" && v.Tag == "!!str" {
		seen[`version "1"`] = true
	}
	if get(root, "description") != nil {
		seen["description"] = true
	}
	if v := get(root, "default"); v != nil {
		seen["default "+v.Value] = true
	}
	if get(root, "hide") != nil {
		seen["hide"] = true
	}
	tools := get(root, "tools")
	if tools == nil {
		return
	}
	seen["tools"] = true
	for i := 0; i+1 < len(tools.Content); i += 2 {
		if tools.Content[i].Value == "*" {
			seen[`tool "*"`] = true
		}
		entry := tools.Content[i+1]
		if get(entry, "validate") != nil {
			seen["validate on a tool"] = true
		}
		rules := get(entry, "rules")
		if rules == nil {
			continue
		}
		if rules.Kind == yaml.SequenceNode && len(rules.Content) == 0 {
			seen["rules []"] = true
		}
		for _, r := range rules.Content {
			if get(r, "name") != nil {
				seen["rule name"] = true
			} else {
				seen["rule without name"] = true
			}
			if a := get(r, "action"); a != nil {
				seen["action "+a.Value] = true
			}
			for _, k := range []string{"on_deny", "reason"} {
				if get(r, k) != nil {
					seen[k] = true
				}
			}
			if get(r, "validate") != nil {
				seen["validate on a rule"] = true
			}
			if c := get(r, "conditions"); c != nil {
				for _, cond := range c.Content {
					if op := get(cond, "op"); op != nil {
						seen["op "+op.Value] = true
					}
				}
			}
			if st := get(r, "state"); st != nil {
				for _, k := range []string{"counter", "window", "increment", "increment_from"} {
					if get(st, k) != nil {
						seen["state."+k] = true
					}
				}
				if w := get(st, "window"); w != nil {
					seen["window "+w.Value] = true
				}
			}
			switch rl := get(r, "rate_limit"); {
			case rl == nil:
			case rl.Kind == yaml.ScalarNode:
				seen[`rate_limit "N/window"`] = true
				if _, w, ok := strings.Cut(rl.Value, "/"); ok {
					seen["window "+w] = true
				}
			case rl.Kind == yaml.MappingNode:
				if w := get(rl, "window"); w != nil && w.Tag == "!!int" {
					seen["rate_limit {max, window: seconds}"] = true
				} else if w != nil {
					seen["rate_limit {max, window: duration}"] = true
				}
			}
		}
	}
}

// TestInterceptCorpusSemantics checks that each corpus policy means what
// Intercept means by it (with the documented differences): the decision,
// the deciding rule and message, and the counters a call is charged.
func TestInterceptCorpusSemantics(t *testing.T) {
	allowed := func(charges ...string) brief { return brief{Action: "allow", Charges: charges} }
	denied := func(rule, reason string) brief { return brief{Action: "deny", Rule: rule, Reason: reason} }
	const (
		payoutDay    = "send_payout/paid_today/global +%s <=2000000 /24h0m0s refund"
		paymentsPace = "_global/minute_calls/global +1 <=120 /1m0s"
		wikiPace     = "_global/rate_limit:overall pace/global +1 <=30 /1m0s"
		hostingPace  = "_global/rate_limit:global pace/global +1 <=90 /1m0s"
	)
	type tc struct {
		file, tool, args string
		required         []string // inputSchema.required, for validate
		want             brief
	}
	cases := []tc{
		// payments.yaml: argument limits, a spend counter, a call counter, a
		// blanket deny, and the "*" counter on every call.
		{"payments", "send_payout", `{"amount_cents":250000,"currency":"usd"}`, nil,
			allowed(fmt.Sprintf(payoutDay, "250000"), paymentsPace)},
		{"payments", "send_payout", `{"amount_cents":0.5,"currency":"chf"}`, nil,
			allowed(fmt.Sprintf(payoutDay, "0.5"), paymentsPace)},
		{"payments", "send_payout", `{"amount_cents":250001,"currency":"usd"}`, nil,
			denied("payout ceiling", "A single payout may not exceed $2,500.00")},
		// What an agent might try: a number as a string, a key spelt in
		// another case (servers bind it all the same), no amount at all.
		{"payments", "send_payout", `{"amount_cents":"999999999","currency":"usd"}`, nil,
			denied("payout ceiling", "A single payout may not exceed $2,500.00")},
		{"payments", "send_payout", `{"Amount_Cents":999999999,"currency":"usd"}`, nil,
			denied("payout ceiling", "A single payout may not exceed $2,500.00")},
		{"payments", "send_payout", `{"currency":"usd"}`, nil,
			denied("payout ceiling", "A single payout may not exceed $2,500.00")},
		{"payments", "send_payout", `{"amount_cents":100,"currency":"USD"}`, nil,
			denied("payout currencies", "Payouts are only made in USD, GBP or CHF")},
		{"payments", "reverse_payment", `{}`, nil,
			allowed("reverse_payment/reversals/global +1 <4 /1h0m0s", paymentsPace)},
		{"payments", "close_merchant_account", `{}`, nil,
			denied("no account closures", "Closing a merchant account needs a person, not an agent")},
		{"payments", "list_payouts", `{}`, nil, allowed(paymentsPace)},

		// default-deny.yaml: only listed tools; "*" rules apply to them but
		// list none.
		{"default-deny", "read_page", `{}`, nil, allowed(wikiPace)},
		{"default-deny", "edit_page", `{}`, nil,
			allowed("edit_page/rate_limit:edits per hour/global +1 <=20 /1h0m0s", wikiPace)},
		{"default-deny", "purge_page_history", `{}`, nil, denied("history is kept", "Page history may not be purged")},
		{"default-deny", "delete_page", `{}`, nil, denied("", `tool "delete_page" is not permitted by policy`)},
		{"default-deny", "Read_Page", `{}`, nil, denied("", `tool "Read_Page" is not permitted by policy`)},

		// hidden-tools.yaml
		{"hidden-tools", "rotate_deploy_key", `{}`, nil,
			brief{Action: "deny", Reason: `tool "rotate_deploy_key" is hidden by policy`, Hidden: true}},
		{"hidden-tools", "open_pull_request", `{}`, nil,
			allowed("open_pull_request/rate_limit:pull requests per hour/global +1 <=4 /1h0m0s", hostingPace)},
		{"hidden-tools", "publish_release", `{}`, nil,
			allowed("publish_release/rate_limit:releases per day/global +1 <=10 /24h0m0s", hostingPace)},
		{"hidden-tools", "force_push", `{}`, nil, denied("never force push", "Force pushes are not allowed from an agent")},

		// operators.yaml: each operator once passing, once failing.
		{"operators", "set_region", `{"region":"eu-west-1"}`, nil, allowed()},
		{"operators", "set_region", `{"region":"eu-west-2"}`, nil, denied("only the primary region", "Only eu-west-1 may be selected")},
		{"operators", "rename_branch", `{"branch":"dev"}`, nil, allowed()},
		{"operators", "rename_branch", `{"branch":"main"}`, nil, denied("not the main branch", "The main branch keeps its name")},
		{"operators", "rename_branch", `{}`, nil, denied("not the main branch", "The main branch keeps its name")},
		{"operators", "change_plan", `{"plan":"team"}`, nil, allowed()},
		{"operators", "change_plan", `{"plan":"enterprise"}`, nil, denied("known plans", "Unknown plan")},
		{"operators", "invite_member", `{"role":"viewer"}`, nil, allowed()},
		{"operators", "invite_member", `{"role":"admin"}`, nil, denied("no privileged roles", "Agents may not hand out owner or admin roles")},
		{"operators", "invite_member", `{}`, nil, denied("no privileged roles", "Agents may not hand out owner or admin roles")},
		{"operators", "bulk_export", `{"rows":9999}`, nil, allowed()},
		{"operators", "bulk_export", `{"rows":10000}`, nil, denied("small exports", "Exports must stay under 10,000 rows")},
		{"operators", "scale_service", `{"replicas":8}`, nil, allowed()},
		{"operators", "scale_service", `{"replicas":8.000000000000001}`, nil, denied("replica ceiling", "No more than 8 replicas")},
		{"operators", "set_retention", `{"days":8}`, nil, allowed()},
		{"operators", "set_retention", `{"days":7}`, nil, denied("keep data a week", "Retention must be longer than seven days")},
		{"operators", "set_password_length", `{"minimum":12}`, nil, allowed()},
		{"operators", "set_password_length", `{"minimum":11}`, nil, denied("long passwords", "Passwords must be at least 12 characters")},
		{"operators", "send_notice", `{"recipient":"ops@corp.example"}`, nil, allowed()},
		{"operators", "send_notice", `{"recipient":"ops@corp.example.evil"}`, nil, denied("company recipients", "Notices go to corp.example addresses only")},
		{"operators", "run_report", `{"filter":"tenant_id=7 and day=1"}`, nil, allowed()},
		{"operators", "run_report", `{"filter":"region=eu"}`, nil, denied("scoped to a tenant", "Reports must filter by tenant_id")},
		{"operators", "restart_worker", `{"worker_id":"w-3"}`, nil, allowed()},
		{"operators", "restart_worker", `{"worker_id":null}`, nil, denied("a worker must be named", "Say which worker to restart")},

		// catalogue-forms.yaml: allow, unnamed rules (named <key>#<n>),
		// validate, approval with a reason, map rate limits, increment.
		{"catalogue-forms", "query_database", `{"sql":" SELECT 1"}`, []string{"sql"},
			allowed("query_database/rate_limit:query_database#2/global +1 <=50 /1h0m0s")},
		{"catalogue-forms", "query_database", `{"sql":"DELETE FROM accounts"}`, []string{"sql"},
			denied("query_database#1", "Only SELECT statements may run")},
		{"catalogue-forms", "query_database", `{}`, []string{"sql"},
			denied("query_database#validate", `missing required argument "sql"`)},
		{"catalogue-forms", "apply_migration", `{}`, nil,
			brief{Action: "approval_required", Rule: "a person reviews migrations", Reason: "Schema changes are reviewed before they run",
				Charges: []string{"apply_migration/rate_limit:migrations per day/global +1 <=3 /24h0m0s"}}},
		{"catalogue-forms", "transfer_funds", `{"amount":1000}`, []string{"amount"},
			allowed("transfer_funds/weight/global +2 <=10 /1h0m0s")},
		{"catalogue-forms", "transfer_funds", `{"amount":1001}`, []string{"amount"},
			brief{Action: "approval_required", Rule: "large transfers need a person", Reason: "Transfers above 1,000 need sign-off",
				Charges: []string{"transfer_funds/weight/global +2 <=10 /1h0m0s"}}},
		{"catalogue-forms", "transfer_funds", `{"to":"x"}`, []string{"amount"},
			denied("complete requests", `missing required argument "amount"`)},
		{"catalogue-forms", "drop_table", `{}`, nil, denied("drop_table#1", "Tables are never dropped by an agent")},

		// notes-scaffold.yaml: a scaffold allows everything.
		{"notes-scaffold", "empty_trash", `{}`, nil, allowed()},
		{"notes-scaffold", "not_listed", `{}`, nil, allowed()},
	}
	policies := map[string]*Policy{}
	for _, c := range cases {
		t.Run(c.file+"/"+c.tool+c.args, func(t *testing.T) {
			p := policies[c.file]
			if p == nil {
				var err error
				if p, err = LoadFile(filepath.Join(corpusDir, c.file+".yaml")); err != nil {
					t.Fatal(err)
				}
				policies[c.file] = p
			}
			cl := call(c.tool, c.args)
			cl.Required = c.required
			if diff := cmp.Diff(c.want, summarize(p.Decide(cl))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// sharedFixtures returns sharedFixturesDir, skipping the test when no
// checkout of the shared fixtures sits beside the repository.
func sharedFixtures(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(sharedFixturesDir); errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s is not beside the repository; testdata/intercept-policies covers the same forms", sharedFixturesDir)
	} else if err != nil {
		t.Fatal(err)
	}
	return sharedFixturesDir
}

func TestInterceptSharedFixturesLoad(t *testing.T) {
	for _, f := range policyFiles(t, sharedFixtures(t)) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := LoadFile(f); err != nil {
				t.Errorf("LoadFile: %v", err)
			}
		})
	}
}

func TestInterceptSharedFixtureSemantics(t *testing.T) {
	p, err := LoadFile(filepath.Join(sharedFixtures(t), "testdata-valid_policy.yaml"))
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
		{"audit.required not a boolean", `version: "1"
audit:
  required: "yes"
`, []string{`p.yaml:3:13: audit.required must be true or false, got a string`}},
		{"audit.required misspelt", `version: "1"
audit:
  requird: true
`, []string{`p.yaml:3:3: unknown key "requird" in audit (did you mean "required"?)`}},
		{"max_pending negative", `version: "1"
approvals:
  max_pending: -1
`, []string{`p.yaml:3:16: approvals.max_pending must be a whole number from 0 to 1000000, got "-1"`}},
		{"max_pending fraction", `version: "1"
approvals:
  max_pending: 2.5
`, []string{`p.yaml:3:16: approvals.max_pending must be a whole number from 0 to 1000000, got "2.5"`}},
		{"max_pending list", `version: "1"
approvals:
  max_pending: [3]
`, []string{`p.yaml:3:16: approvals.max_pending must be a whole number from 0 to 1000000, got a list`}},
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
