package policy

import (
	"testing"
	"time"
)

// A wildcard path is read the way that is strictest for its rule: a deny or
// approval rule fires when any element would fire it (one bad recipient
// among good ones is enough), an evaluate rule passes only when every
// element passes.
func TestWildcardStrictestForTheRule(t *testing.T) {
	const src = `version: "1"
tools:
  send_email:
    rules:
      - name: no evil
        action: deny
        conditions:
          - {path: "args.to[*]", op: eq, value: "evil@x.test"}
      - name: outsiders need a person
        action: require_approval
        conditions:
          - {path: "args.to[*]", op: not_in, value: ["a@corp.test", "b@corp.test", "evil@x.test"]}
  pay:
    rules:
      - name: items small
        conditions:
          - {path: "args.items[*].amount", op: lte, value: 10}
      - name: no gift cards
        action: deny
        conditions:
          - {path: "args.items[*].kind", op: in, value: ["gift_card"]}
`
	p, err := Load("w.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tool, args, want, rule string
	}{
		{"send_email", `{"to":["a@corp.test","evil@x.test"]}`, "deny", "no evil"},
		{"send_email", `{"to":["evil@x.test","a@corp.test"]}`, "deny", "no evil"},
		{"send_email", `{"to":["a@corp.test","b@corp.test"]}`, "allow", ""},
		{"send_email", `{"to":["a@corp.test","stranger@y.test"]}`, "approval_required", "outsiders need a person"},
		{"send_email", `{"to":[]}`, "allow", ""},
		{"send_email", `{"to":["a@corp.test",7]}`, "approval_required", "outsiders need a person"},
		{"pay", `{"items":[{"amount":1,"kind":"book"},{"amount":11,"kind":"book"}]}`, "deny", "items small"},
		{"pay", `{"items":[{"amount":1,"kind":"book"},{"amount":2,"kind":"gift_card"}]}`, "deny", "no gift cards"},
		{"pay", `{"items":[{"amount":1,"kind":"book"},{"amount":1e1,"kind":"book"}]}`, "allow", ""},
		{"pay", `{"items":[]}`, "allow", ""},
	} {
		d := p.Decide(&Call{Tool: tc.tool, Args: []byte(tc.args), Now: time.Unix(0, 0)})
		if d.Action.String() != tc.want || d.Rule != tc.rule {
			t.Errorf("%s %s: got %s (rule %q, %s), want %s (rule %q)", tc.tool, tc.args, d.Action, d.Rule, d.Reason, tc.want, tc.rule)
		}
	}
}
