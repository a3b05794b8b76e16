package policy

import "testing"

// A key that differs from the rule's only by case is read as that key: a
// case-insensitive server would bind it, so it must not slip past a check.
func TestConditionsReadCaseVariantKeys(t *testing.T) {
	p, err := Load("p.yaml", []byte(`version: "1"
tools:
  deploy:
    rules:
      - name: no force
        conditions:
          - path: args.force
            op: exists
            value: false
      - name: small
        conditions:
          - path: args.opts.size
            op: lte
            value: 10
`))
	if err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]Action{
		`{"opts":{"size":5}}`:                      Allow,
		`{"Force":true,"opts":{"size":5}}`:         Deny,
		`{"opts":{"SIZE":500}}`:                    Deny,
		`{"OPTS":{"size":500}}`:                    Deny,
		"{\"opts\":{\"size\":5},\"\u0046orce\":1}": Deny,
	} {
		if d := p.Decide(&Call{Tool: "deploy", Args: []byte(args)}); d.Action != want {
			t.Errorf("%s: %v, want %v", args, d.Action, want)
		}
	}
}
