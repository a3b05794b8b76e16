package policy

import (
	"os"
	"path/filepath"
	"testing"
)

func FuzzLoad(f *testing.F) {
	f.Add([]byte(orderPolicy))
	f.Add([]byte("version: \"1\"\nhide: [\"*\"]\n"))
	f.Add([]byte(condPolicy("args.a[*].b", "path_within", `["/tmp"]`)))
	if files, _ := filepath.Glob(filepath.Join(corpusDir, "*.yaml")); len(files) > 0 {
		for _, name := range files[:min(len(files), 8)] {
			if data, err := os.ReadFile(name); err == nil {
				f.Add(data)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Load("fuzz.yaml", data)
		if err == nil {
			p.Decide(call("create_charge", `{"amount":1,"items":[{"id":1}]}`))
			p.Hidden("x")
		}
	})
}

func FuzzDecide(f *testing.F) {
	p := mustLoad(f, `version: "1"
tools:
  t:
    validate: {required_args: true}
    rules:
      - {action: deny, conditions: [{path: args.mode, op: eq, value: root}]}
      - conditions:
          - {path: "args.items[*].qty", op: lte, value: 10.5}
          - {path: args.path, op: path_within, value: [/srv, /tmp]}
          - {path: args.name, op: max_len, value: 8}
          - {path: args.name, op: not_regex, value: "^admin"}
          - {path: "args.tags", op: contains, value: x}
          - {path: 'args["a.b"][0]', op: in, value: [1, "1", null, true]}
      - {action: require_approval, conditions: [{path: args.n, op: gt, value: 1e3}]}
      - conditions: [{path: state.t.spend, op: lt, value: 100}]
        state: {counter: spend, window: day, increment_from: args.n}
        per: session
`)
	f.Add([]byte(`{"items":[{"qty":1}],"path":"/srv/x","name":"bob","tags":["x"],"a.b":[1],"n":5}`))
	f.Add([]byte(`{"n":-1e99999}`))
	f.Add([]byte(`{"path":"/srv/../etc","n":"5"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, args []byte) {
		c := &Call{Tool: "t", Args: args, Required: []string{"n"}, SchemaKnown: true, Session: "s"}
		d := p.Decide(c)
		d2, _ := p.Explain(c)
		if d.Action != d2.Action || d.Rule != d2.Rule || d.Reason != d2.Reason || len(d.Charges) != len(d2.Charges) {
			t.Fatalf("Decide %v and Explain %v disagree", d, d2)
		}
		if d.Action == Deny && len(d.Charges) > 0 && !d.Monitor {
			t.Fatalf("enforced deny with charges: %v", d)
		}
		for _, ch := range d.Charges {
			if ch.Amount.Sign() <= 0 {
				t.Fatalf("non-positive charge %s", ch.Amount.Text('f'))
			}
		}
	})
}
