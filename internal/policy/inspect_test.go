package policy

import (
	"strings"
	"testing"
)

func TestInspectSection(t *testing.T) {
	p, err := Load("i.yaml", []byte(`version: "1"
inspect:
  "*":
    results: {secret: redact, injection: fence}
    allow: [result.structuredContent.id]
  send_email:
    arguments: {pii: deny, email: off}
    max_result_bytes: 2MiB
`))
	if err != nil {
		t.Fatal(err)
	}
	star, own := p.Inspection("other_tool"), p.Inspection("send_email")
	if star == nil || star.Results == nil || star.Arguments != nil || star.MaxResultBytes != 0 {
		t.Errorf(`"*" inspection: %+v`, star)
	}
	if own == nil || own.Arguments == nil || own.Results == nil || own.MaxResultBytes != 2<<20 {
		t.Errorf("send_email inspection (merged over \"*\"): %+v", own)
	}
	if q, _ := Load("n.yaml", []byte("version: \"1\"\n")); q.Inspection("x") != nil {
		t.Error("a policy without inspect inspects")
	}
}

func TestInspectSectionErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"inspect:\n  x:\n    argumnets: {pii: deny}\n", `i.yaml:4:5: unknown key "argumnets" in inspect.x (did you mean "arguments"?)`},
		{"inspect:\n  x:\n    arguments: {pii: shred}\n", "i.yaml:4:22: inspect.x.arguments.pii:"},
		{"inspect:\n  x:\n    arguments: {credit_card: deny}\n", "i.yaml:3:3: inspect.x.arguments: compile inspect: unknown detector or class \"credit_card\""},
		{"inspect:\n  x:\n    results: {secret: fence}\n", "i.yaml:3:3: inspect.x.results:"},
		{"inspect:\n  x:\n    allow: [content.text]\n", "must start with args"},
		{"inspect:\n  x:\n    max_result_bytes: -5\n", "max_result_bytes must be a positive number"},
	} {
		_, err := Load("i.yaml", []byte("version: \"1\"\n"+tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) { // positions count the version line
			t.Errorf("%q: got %v, want it to contain %q", tc.src, err, tc.want)
		}
	}
}

// What inspect denies in the arguments, Decide denies (so explain and
// tollgate test show it), after the hide list and before everything else.
func TestInspectDecides(t *testing.T) {
	p, err := Load("i.yaml", []byte(`version: "1"
default: deny
hide: [secret_tool]
inspect:
  "*":
    arguments: {card_number: deny, secret: redact}
tools:
  pay:
    rules: []
`))
	if err != nil {
		t.Fatal(err)
	}
	d, steps := p.Explain(&Call{Tool: "pay", Args: []byte(`{"note":"card 4111111111111111"}`)})
	if d.Action != Deny || d.Rule != InspectRule || d.Reason != "args.note holds card_number (pii), which the policy's inspect denies" {
		t.Errorf("decision %+v", d)
	}
	if len(steps) == 0 || steps[0].Kind != "inspect" || !steps[0].Held {
		t.Errorf("explain steps %+v", steps)
	}
	if d := p.Decide(&Call{Tool: "pay", Args: []byte(`{"note":"key AKIAIOSFODNN7EXAMPLE"}`)}); d.Action != Allow {
		t.Errorf("a redacted finding is not a denial: %+v", d)
	}
	if d := p.Decide(&Call{Tool: "secret_tool", Args: []byte(`{"note":"4111111111111111"}`)}); !d.Hidden {
		t.Errorf("inspect ran before the hide list: %+v", d)
	}
}
