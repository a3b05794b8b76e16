package policy

import (
	"fmt"
	"strings"
	"testing"
	"unicode"
)

// TestNumberReadings holds conditions to the strictest reading of a number:
// the exact value, the nearest double, and the number a numeric string
// spells. Each row is one argument an agent could send, judged by a deny
// rule, an approval rule and an evaluate rule with the same condition.
func TestNumberReadings(t *testing.T) {
	tests := []struct {
		op, value, arg string
		// what each rule kind decides: the deny rule fires, the approval
		// rule fires, the evaluate rule admits.
		deny, approve, admit bool
		why                  string // in the deny reason, when a reading decided
	}{
		// A double rounds 500.00000000000001 to 500.
		{"eq", "500", `500.00000000000001`, true, true, false, "args.v = 500.00000000000001 read as the double 500"},
		{"in", "[0]", `1e-400`, true, true, false, "args.v = 1e-400 read as the double 0"},
		{"neq", "0", `1e-400`, true, true, false, ""},
		{"gt", "0", `1e-400`, true, true, false, ""},
		{"lte", "9007199254740992", `9007199254740993`, true, true, false, ""},
		{"gte", "1e300", `1e400`, true, true, true, ""},
		{"lt", "1e300", `1e400`, false, false, false, ""},
		{"eq", "0", `-0`, true, true, true, ""},
		// Numeric strings are read as the number they spell.
		{"eq", "1000", `"1e3"`, true, true, false, `args.v = "1e3" read as the number 1000`},
		{"in", "[12]", `" 12 "`, true, true, false, `args.v = " 12 " read as the number 12`},
		{"in", "[16]", `"0x10"`, true, true, false, `args.v = "0x10" read as the number 16`},
		{"eq", "1000", `"1_000"`, true, true, false, `args.v = "1_000" read as the number 1000`},
		{"eq", "12", `"١٢"`, true, true, false, `args.v = "١٢" read as the number 12`},
		{"eq", "12", `"１２"`, true, true, false, ""},
		{"eq", "0", `""`, true, true, false, ""},
		{"not_in", "[1234]", `"1234"`, true, true, false, ""}, // as text it is not in the list
		{"not_in", "[1234]", `"1234.0"`, true, true, false, ""},
		{"not_in", "[1234]", `"1235"`, true, true, true, ""},
		{"in", "[1234]", `"1234.0"`, true, true, false, `args.v = "1234.0" read as the number 1234`},
		{"eq", "9007199254740992", `"9007199254740993"`, true, true, false, "read as the double 9007199254740992"},
		{"eq", `"5"`, `"5.0"`, true, true, false, `args.v = "5.0" read as the number 5`},
		{"eq", `"5"`, `5`, true, true, false, ""},
		// Not numbers to anyone: type-strict as before.
		{"eq", "12", `"12abc"`, false, false, false, ""},
		{"in", "[1000]", `"1 000"`, false, false, false, ""},
		{"eq", "1", `"1__0"`, false, false, false, ""},
		{"eq", "0", `"NaN"`, false, false, false, ""},
		{"neq", "0", `"NaN"`, true, true, true, ""}, // NaN equals nothing
		{"eq", "1", `"0x"`, false, false, false, ""},
		// Strings are never ordered against numbers: fail closed either way.
		{"lte", "500", `"100"`, true, true, false, ""},
		{"gt", "500", `"1e9"`, true, true, false, ""},
		// A number too long to read exactly cannot be judged.
		{"eq", "1", `1.` + strings.Repeat("0", maxNumberText) + `1`, true, true, false, ""},
		{"lte", "1", `1.` + strings.Repeat("0", maxNumberText) + `1`, true, true, false, ""},
		// Deep values: every number inside is read every way.
		{"eq", "[1, 2]", `[1, 2.0000000000000001]`, true, true, false, ""},
		{"contains", "2", `[1, 2.0000000000000001]`, true, true, false, ""},
		{"contains", "2", `[1, "2"]`, true, true, false, ""},
		{"contains", "2", `[1, 3]`, false, false, false, ""},
		// Ordinary values are untouched.
		{"eq", "500", `500`, true, true, true, ""},
		{"lte", "500", `499.99`, true, true, true, ""},
		{"in", "[usd, eur]", `"eur"`, true, true, true, ""},
		{"not_in", "[usd, eur]", `"gbp"`, true, true, true, ""},
		{"in", "[1, 2]", `2.00`, true, true, true, ""},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s %s on %s", tt.op, tt.value, tt.arg)
		if len(name) > 80 {
			name = name[:80]
		}
		t.Run(name, func(t *testing.T) {
			args := `{"v":` + tt.arg + `}`
			for _, kind := range []string{"deny", "require_approval", "evaluate"} {
				p := mustLoad(t, fmt.Sprintf(`version: "1"
tools:
  t:
    rules:
      - name: r
        action: %s
        conditions:
          - {path: args.v, op: %s, value: %s}
`, kind, tt.op, tt.value))
				d := p.Decide(call("t", args))
				var got, want bool
				switch kind {
				case "deny":
					got, want = d.Action == Deny, tt.deny
				case "require_approval":
					got, want = d.Action == RequireApproval, tt.approve
				default:
					got, want = d.Action == Allow, tt.admit
				}
				if got != want {
					t.Errorf("%s rule: got %v (%s), want the rule to apply: %v", kind, d.Action, d.Reason, want)
				}
				if kind == "deny" && tt.why != "" && !strings.Contains(d.Reason, tt.why) {
					t.Errorf("deny reason %q does not say %q", d.Reason, tt.why)
				}
			}
		})
	}
}

// TestNumberReadingsExplain checks that explain's trace names the reading
// that decided.
func TestNumberReadingsExplain(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  pay:
    rules:
      - name: no exact thousand
        action: deny
        conditions:
          - {path: args.amount, op: eq, value: 1000}
`)
	d, steps := p.Explain(call("pay", `{"amount":"1e3"}`))
	if d.Action != Deny {
		t.Fatalf("got %v, want deny", d.Action)
	}
	const want = `args.amount = "1e3" read as the number 1000`
	found := false
	for _, s := range steps {
		if s.Kind == "condition" && strings.Contains(s.Note, want) {
			found = true
		}
	}
	if !found {
		t.Errorf("no condition step notes %q: %+v", want, steps)
	}
}

func TestSpelledNumbers(t *testing.T) {
	for in, want := range map[string]string{
		"12": "12", " 12 ": "12", "\u00a012\u3000": "12", "\ufeff7": "7", "+5": "5", "-5": "-5",
		".5": "0.5", "5.": "5.0", "1e3": "1000", "1E+3": "1000", "2.5e-1": "0.25",
		"0x10": "16", "0X1f": "31", "0o17": "15", "0b101": "5", "-0x10": "-16", "0x_1_0": "16",
		"1_000": "1000", "١٢": "12", "１２.５": "12.5", "": "0", "   ": "0",
	} {
		var r numReadings
		if !readSpelled(in, &r) || r.exact.class != finite {
			t.Errorf("readSpelled(%q): not a number", in)
			continue
		}
		if got := r.exact.d.Text('f'); got != want {
			t.Errorf("readSpelled(%q) = %s, want %s", in, got, want)
		}
	}
	for in, class := range map[string]numClass{"Infinity": posInf, "-inf": negInf, "INF": posInf, "NaN": notANumber, "nan": notANumber} {
		var r numReadings
		if !readSpelled(in, &r) || r.exact.class != class {
			t.Errorf("readSpelled(%q): class %d, want %d", in, r.exact.class, class)
		}
	}
	for _, in := range []string{"12abc", "abc", "1 000", "1__0", "_1", "1_", "0x", "0xg", "1e", "e3", ".", "-", "+-1", "1.2.3", "1e3.5", "5_.0", "usd", "none", "infinite", "0755x"} {
		var r numReadings
		if readSpelled(in, &r) {
			t.Errorf("readSpelled(%q): read as a number", in)
		}
	}
}

// TestDigitValue checks the assumption digitValue rests on: every range of
// Unicode's Nd table starts at a zero and runs in tens.
func TestDigitValue(t *testing.T) {
	for _, rg := range unicode.Nd.R16 {
		if rg.Stride != 1 || (rg.Hi-rg.Lo+1)%10 != 0 {
			t.Errorf("Nd range %U–%U is not whole runs of ten", rg.Lo, rg.Hi)
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if rg.Stride != 1 || (rg.Hi-rg.Lo+1)%10 != 0 {
			t.Errorf("Nd range %U–%U is not whole runs of ten", rg.Lo, rg.Hi)
		}
	}
	for r, want := range map[rune]int{'0': 0, '9': 9, '٣': 3, '७': 7, '９': 9, '𝟘': 0, '𝟡': 9, 'a': -1, '²': -1} {
		if got := digitValue(r); got != want {
			t.Errorf("digitValue(%q) = %d, want %d", r, got, want)
		}
	}
}
