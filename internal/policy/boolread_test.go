package policy

import (
	"fmt"
	"strings"
	"testing"
)

// TestBooleanReadings holds a condition on a boolean to every way a server
// reads one: an agent that may not send {"force": true} must not get
// through with "true", "yes", 1 or 1.0, which lenient validators (pydantic,
// strconv.ParseBool) and truthiness (JavaScript) read as true. Each row is
// judged by a deny rule, an approval rule and an evaluate rule with the same
// condition.
func TestBooleanReadings(t *testing.T) {
	tests := []struct {
		op, value, arg       string
		deny, approve, admit bool
		why                  string // in the deny reason, when a reading decided
	}{
		{"eq", "true", `true`, true, true, true, ""},
		{"eq", "true", `false`, false, false, false, ""},
		{"eq", "true", `"true"`, true, true, false, `args.v = "true" read as the boolean true`},
		{"eq", "true", `"True"`, true, true, false, `read as the boolean true`},
		{"eq", "true", `" TRUE "`, true, true, false, ""},
		{"eq", "true", `"1"`, true, true, false, ""},
		{"eq", "true", `"yes"`, true, true, false, ""},
		{"eq", "true", `"on"`, true, true, false, ""},
		{"eq", "true", `"t"`, true, true, false, ""},
		{"eq", "true", `1`, true, true, false, `args.v = 1 read as the boolean true`},
		{"eq", "true", `1.0`, true, true, false, ""},
		{"eq", "true", `1e0`, true, true, false, ""},
		{"eq", "true", `2`, true, true, false, ""},    // JavaScript's truthiness
		{"eq", "true", `"no"`, true, true, false, ""}, // a non-empty string is truthy
		{"eq", "true", `[1]`, true, true, false, ""},
		{"eq", "true", `{}`, true, true, false, ""},
		{"eq", "true", `0`, false, false, false, ""},
		{"eq", "true", `""`, false, false, false, ""},
		{"eq", "true", `null`, false, false, false, ""},
		{"eq", "false", `"false"`, true, true, false, `args.v = "false" read as the boolean false`},
		{"eq", "false", `"0"`, true, true, false, ""},
		{"eq", "false", `"off"`, true, true, false, ""},
		{"eq", "false", `0`, true, true, false, ""},
		{"eq", "false", `0.0`, true, true, false, ""},
		{"eq", "false", `1e-400`, true, true, false, ""}, // a double reads 0
		{"eq", "false", `""`, true, true, false, ""},
		{"eq", "false", `null`, true, true, false, ""},
		{"eq", "false", `[]`, true, true, false, ""}, // Python's bool([])
		{"eq", "false", `"yes"`, false, false, false, ""},
		{"eq", "false", `1`, false, false, false, ""},
		// in and not_in read each boolean of the list the same way.
		{"in", "[true]", `"yes"`, true, true, false, ""},
		{"not_in", "[true]", `"yes"`, true, true, false, ""},
		{"not_in", "[true]", `false`, true, true, true, ""},
		// neq: an evaluate rule that needs "not true" is not met by "true".
		{"neq", "true", `"true"`, true, true, false, ""},
		{"neq", "true", `false`, true, true, true, ""},
		// contains reads each element.
		{"contains", "true", `["x", "on"]`, true, true, false, `args.v = "x" read as the boolean true`},
		// A boolean argument against a spelling in the policy.
		{"eq", `"true"`, `true`, true, true, false, `args.v = true read as "true"`},
		{"in", `["yes", "prod"]`, `true`, true, true, false, ""},
		{"eq", `"prod"`, `true`, false, false, false, ""},
		{"eq", "1", `true`, true, true, false, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s on %s", tt.op, tt.value, tt.arg), func(t *testing.T) {
			checkRuleKinds(t, tt.op, tt.value, tt.arg, tt.deny, tt.approve, tt.admit, tt.why)
		})
	}
}

// checkRuleKinds loads one condition as a deny, an approval and an evaluate
// rule and checks what each decides on {"v": arg}.
func checkRuleKinds(t *testing.T, op, value, arg string, deny, approve, admit bool, why string) {
	t.Helper()
	args := `{"v":` + arg + `}`
	for _, kind := range []string{"deny", "require_approval", "evaluate"} {
		p := mustLoad(t, fmt.Sprintf(`version: "1"
tools:
  t:
    rules:
      - name: r
        action: %s
        conditions:
          - {path: args.v, op: %s, value: %s}
`, kind, op, value))
		d := p.Decide(call("t", args))
		var got, want bool
		switch kind {
		case "deny":
			got, want = d.Action == Deny, deny
		case "require_approval":
			got, want = d.Action == RequireApproval, approve
		default:
			got, want = d.Action == Allow, admit
		}
		if got != want {
			t.Errorf("%s rule on %s: got %v (%s), want the rule to apply: %v", kind, args, d.Action, d.Reason, want)
		}
		if kind == "deny" && why != "" && !strings.Contains(d.Reason, why) {
			t.Errorf("deny reason %q does not say %q", d.Reason, why)
		}
	}
}

// TestJSONTextReadings holds a condition on a string that spells an array
// or object as JSON text to that value as well: FastMCP parses such a
// string before validating when the parameter is an array or an object, and
// an escape inside the text hides what the rule looks for.
func TestJSONTextReadings(t *testing.T) {
	tests := []struct {
		op, value, arg       string
		deny, approve, admit bool
		why                  string
	}{
		{"contains", "prod", `"[\"pr\\u006fd\"]"`, true, true, false, `read as the JSON it spells`},
		{"contains", "prod", `" [\"dev\", \"prod\"] "`, true, true, true, ""},
		{"contains", "prod", `"[\"dev\"]"`, false, false, false, ""},
		{"eq", `[prod]`, `"[\"pr\\u006fd\"]"`, true, true, false, ""},
		{"in", `[[a]]`, `"[\"a\"]"`, true, true, false, ""},
		{"eq", `{env: prod}`, `"{\"env\":\"pr\\u006fd\"}"`, true, true, false, ""},
		// JSON that servers read differently cannot be judged: fail closed.
		{"contains", "prod", `"{\"env\":\"dev\",\"env\":\"pr\\u006fd\"}"`, true, true, false, "servers read differently"},
		{"contains", "prod", `"[\"pr\\u006fd\", NaN]"`, true, true, false, ""},
		// A reading the operator does not judge does not count: a string
		// that merely looks like JSON is judged as the string.
		{"regex", `"DROP"`, `"{\"q\":\"select\"}"`, false, false, false, ""},
		{"max_len", "100", `"{\"q\":\"select\"}"`, true, true, true, ""},
		{"starts_with", `"["`, `"[1]"`, true, true, true, ""},
		{"contains", "prod", `"[WIP] prod fix"`, true, true, true, ""},
		{"contains", "prod", `"[WIP] fix"`, false, false, false, ""},
		// The strictest reading decides an evaluate rule.
		{"not_in", `[[a]]`, `"[\"a\"]"`, true, true, false, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s on %s", tt.op, tt.value, tt.arg), func(t *testing.T) {
			checkRuleKinds(t, tt.op, tt.value, tt.arg, tt.deny, tt.approve, tt.admit, tt.why)
		})
	}
}
