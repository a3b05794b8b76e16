package audit

import (
	"fmt"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// TestPathGrammarShared holds audit redaction and policy conditions to one
// argument-path grammar: every form is accepted or rejected by both.
func TestPathGrammarShared(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{`args.a`, true}, {`args.a.b`, true}, {`args.a[0]`, true}, {`args.a[*].b`, true},
		{`args["a.b"]`, true}, {`args['a b']`, true}, {`args["a\"b"]`, true}, {`args['a\\b']`, true},
		{`args.é`, true}, {`args[1073741824]`, true}, {`args.a[007]`, true},
		{`args`, false}, {`args.`, false}, {`args..a`, false}, {`args.a b`, false}, {`args a`, false},
		{`args[""]`, false}, {`args['']`, false}, {`args["a"`, false}, {`args["a\n"]`, false},
		{`args[-1]`, false}, {`args[+1]`, false}, {`args[1.5]`, false}, {`args[]`, false},
		{`args[1073741825]`, false}, {`args[99999999999999999999]`, false}, {`args[* ]`, false},
		{`args[a]`, false}, {`args.a]`, false}, {`args.a[`, false}, {`arg.a`, false}, {`Args.a`, false},
		{`state.t.c`, false}, {`args."a"`, false}, {`args.a'`, false}, {"args.a\tb", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			_, redactErr := NewRedactor([]string{tc.path})
			_, condErr := policy.Load("p.yaml", []byte(fmt.Sprintf(
				"version: \"1\"\ntools:\n  t:\n    rules:\n      - conditions:\n          - {path: %s, op: exists, value: true}\n",
				yamlQuote(tc.path))))
			_, auditErr := policy.Load("p.yaml", []byte(fmt.Sprintf(
				"version: \"1\"\naudit:\n  arguments: full\n  redact: [%s]\n", yamlQuote(tc.path))))
			if (redactErr == nil) != tc.ok {
				t.Errorf("NewRedactor: err = %v, want ok %v", redactErr, tc.ok)
			}
			if tc.path == "state.t.c" {
				return // a state path is a condition path, never a redaction
			}
			if (condErr == nil) != tc.ok {
				t.Errorf("policy condition: err = %v, want ok %v", condErr, tc.ok)
			}
			if (auditErr == nil) != tc.ok {
				t.Errorf("policy audit.redact: err = %v, want ok %v", auditErr, tc.ok)
			}
		})
	}
}

func yamlQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\t", `\t`, "\n", `\n`).Replace(s) + `"`
}

// TestRedactFoldsCase checks that a key differing only in case from a
// redact path is redacted too: the policy (and a Go server) reads it as
// that argument.
func TestRedactFoldsCase(t *testing.T) {
	r, err := NewRedactor([]string{"args.card.number"})
	if err != nil {
		t.Fatal(err)
	}
	out, matched, err := r.Apply([]byte(`{"Card":{"NUMBER":"4111","cvc":"1"},"note":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Card":{"NUMBER":"[REDACTED]","cvc":"1"},"note":"x"}`; string(out) != want {
		t.Errorf("Apply = %s, want %s", out, want)
	}
	if len(matched) != 1 {
		t.Errorf("matched = %v", matched)
	}
}
