package policy

import (
	"strings"
	"testing"
)

const requestsPolicy = `version: "1"
default: deny
tools:
  "*":
    rules:
      - name: calls
        rate_limit: 10/minute
requests:
  resources/read:
    rules:
      - name: no system files
        action: deny
        conditions: [{path: args.uri, op: path_within, value: [/etc, /root]}]
        on_deny: "system files are off limits"
      - name: notes only
        conditions: [{path: args.uri, op: starts_with, value: "file:///"}]
  prompts/get:
    rules:
      - name: no admin prompt
        action: deny
        conditions: [{path: args.name, op: eq, value: admin}]
`

// The requests section governs resources/read and prompts/get by the
// request's params, as the tools section governs a call by its arguments;
// "*" tools rules and default: deny do not reach requests.
func TestDecideRequest(t *testing.T) {
	p := mustLoad(t, requestsPolicy)
	for _, c := range []struct {
		method, params string
		want           Action
		rule           string
	}{
		{"resources/read", `{"uri":"file:///home/me/notes.txt"}`, Allow, ""},
		{"resources/read", `{"uri":"file:///etc/shadow"}`, Deny, "no system files"},
		{"resources/read", `{"uri":"file:///%65tc/shadow"}`, Deny, "no system files"},
		{"resources/read", `{"uri":"https://example.com/x"}`, Deny, "no system files"},         // not a path: fails closed
		{"resources/read", `{"uri":"file:///home/me/a","uri":"file:///etc/shadow"}`, Deny, ""}, // ambiguous params
		{"prompts/get", `{"name":"review"}`, Allow, ""},
		{"prompts/get", `{"name":"Admin"}`, Deny, "no admin prompt"},
	} {
		d, ok := p.DecideRequest(&Call{Tool: c.method, Args: []byte(c.params), Now: t0})
		if !ok || d.Action != c.want || d.Rule != c.rule || len(d.Charges) != 0 {
			t.Errorf("%s %s: %v %+v, want %v by %q", c.method, c.params, ok, d, c.want, c.rule)
		}
	}
	d, _ := p.DecideRequest(&Call{Tool: "resources/read", Args: []byte(`{"uri":"file:///root/x"}`), Now: t0})
	if !strings.HasPrefix(d.Reason, "system files are off limits (args.uri = ") {
		t.Errorf("reason %q", d.Reason)
	}
	for _, m := range []string{"resources/subscribe", "completion/complete", "tools/list"} {
		if _, ok := p.DecideRequest(&Call{Tool: m, Args: []byte(`{}`), Now: t0}); ok || p.GovernsRequest(m) {
			t.Errorf("%s is governed without an entry", m)
		}
	}
	if !p.GovernsRequest("resources/read") || mustLoad(t, "version: \"1\"\n").GovernsRequest("resources/read") {
		t.Error("GovernsRequest")
	}

	mon := mustLoad(t, strings.Replace(requestsPolicy, "default: deny", "mode: monitor", 1))
	if d, _ := mon.DecideRequest(&Call{Tool: "prompts/get", Args: []byte(`{"name":"admin"}`), Now: t0}); d.Action != Deny || !d.Monitor {
		t.Errorf("monitor mode: %+v", d)
	}
}

func TestRequestsLoadErrors(t *testing.T) {
	for src, want := range map[string]string{
		"requests:\n  tools/call:\n    rules: []\n":                                                    "requests.tools/call: not a request Tollgate governs",
		"requests:\n  resources/reed:\n    rules: []\n":                                                "requests.resources/reed: not a request Tollgate governs (want resources/read, prompts/get",
		"requests:\n  resources/read:\n    rule: []\n":                                                 `unknown key "rule"`,
		"requests:\n  prompts/get:\n    rules:\n      - name: ask\n        action: require_approval\n": "a request cannot wait for approval",
		"requests:\n  prompts/get:\n    rules:\n      - name: st\n        conditions: [{path: state.prompts/get.n, op: lte, value: 5}]\n        state: {counter: n, window: hour, increment: 1}\n": "state counters count tool calls, not requests",
		"requests:\n  prompts/get:\n    rules:\n      - name: v\n        validate: {required_args: true}\n":                                                                                        "validate checks a tool's arguments",
		"requests:\n  prompts/get:\n    rules:\n      - name: a\n        action: deny\n      - name: a\n        action: deny\n":                                                                    `duplicate rule name "a" in requests.prompts/get`,
		"requests:\n  prompts/get:\n    rules:\n      - name: a\n        conditions: [{path: args.name, op: eqq, value: x}]\n":                                                                     "eqq",
	} {
		_, err := Load("p.yaml", []byte("version: \"1\"\n"+src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", src, err, want)
		}
	}
}

// A requests entry's rate limit charges a counter of its own (scope
// "request:METHOD"), per session or identity as a tool's does.
func TestRequestRateLimit(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  resources/read:
    rules:
      - name: reads
        rate_limit: 5/minute
requests:
  resources/read:
    rules:
      - name: reads
        rate_limit: 100/minute
        per: session
`)
	if !p.Stateful() || !mustLoad(t, "version: \"1\"\nrequests:\n  resources/read:\n    rules:\n      - name: reads\n        rate_limit: 1/minute\n").Stateful() {
		t.Error("a policy whose only counter is a request's is not stateful")
	}
	d, ok := p.DecideRequest(&Call{Tool: "resources/read", Args: []byte(`{"uri":"file:///x"}`), Session: "s1", Now: t0})
	if !ok || d.Action != Allow || len(d.Charges) != 1 {
		t.Fatalf("%v %+v", ok, d)
	}
	ch := d.Charges[0]
	if ch.Key.Scope != "request:resources/read" || ch.Key.Counter != "rate_limit:reads" || ch.Key.Who != "session:s1" || ch.Limit.Text('f') != "100" || ch.Rule != "reads" {
		t.Errorf("charge %+v", ch)
	}
	tool := p.Decide(&Call{Tool: "resources/read", Args: []byte(`{}`), Session: "s1", Now: t0})
	if len(tool.Charges) != 1 || tool.Charges[0].Key == ch.Key {
		t.Errorf("the tool named resources/read shares the request's counter: %+v", tool.Charges)
	}
}
