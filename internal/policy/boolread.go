package policy

import (
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
)

// Servers do not all read a boolean the way its JSON says either. An agent
// that may not send {"force": true} can send "true", "True", "yes", "on",
// "1" or 1, and a server that validates leniently (pydantic's lax mode, as
// FastMCP and the Python SDK use; Go's strconv.ParseBool) or coerces by
// truthiness (JavaScript's Boolean(), as zod's coerce.boolean does) reads
// each as true. A condition that compares with a boolean is therefore
// judged under every such reading, the same way numbers are (numread.go):
// a deny or approval rule fires when any reading matches; an evaluate rule
// admits only the JSON boolean itself.

// boolReadings reports whether v, an argument that is not a JSON boolean,
// reads as true and whether it reads as false under some server's
// coercion:
//   - a string in any case, around white space: true/false, t/f, yes/no,
//     y/n, on/off, 1/0 (pydantic, strconv.ParseBool);
//   - a number or numeric string (see numread.go) that is zero reads false,
//     any other reads true (pydantic takes 0 and 1; JavaScript any);
//   - by truthiness (JavaScript, Python): a non-empty string, an array and
//     an object read true; "", null, NaN, and (in Python) an empty array
//     or object read false.
func boolReadings(v any) (t, f bool) {
	switch x := v.(type) {
	case nil:
		return false, true
	case []any:
		return true, len(x) == 0
	case map[string]any:
		return true, len(x) == 0
	case string:
		if b, ok := spelledBool(x); ok {
			t, f = b, !b
		}
		t = t || x != ""
		f = f || x == ""
	}
	var r numReadings
	if readNumber(v, &r) {
		var zero decimal.Decimal
		for i := range r.count() {
			nv, _ := r.at(i)
			switch c, ok := cmpNum(nv, &zero); {
			case !ok: // NaN, or unreadable: both, fail closed
				t, f = true, true
			case c == 0:
				f = true
			default:
				t = true
			}
		}
	}
	return t, f
}

// spelledBool reads the spellings of a boolean that lenient validators
// accept, in any case and around white space.
func spelledBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimFunc(s, isSpace)) {
	case "true", "t", "yes", "y", "on", "1":
		return true, true
	case "false", "f", "no", "n", "off", "0":
		return false, true
	}
	return false, false
}

// boolEqual is readEqual (without must) when exactly one of a and b is a
// JSON boolean: a non-boolean argument equals a boolean in the policy when
// any of its readings does; a boolean argument equals a non-boolean in the
// policy when the policy's value spells that boolean ("true", "no"; an
// author who writes a spelling means the boolean). ok is false when
// neither or both are booleans.
func boolEqual(a, b any) (eq, ok bool) {
	if want, isBool := b.(bool); isBool {
		if _, both := a.(bool); both {
			return false, false
		}
		t, f := boolReadings(a)
		return want && t || !want && f, true
	}
	if got, isBool := a.(bool); isBool {
		s, text := b.(string)
		if !text {
			if n, num := b.(interface{ String() string }); num {
				s = n.String() // a number in the policy: 0 or 1
			}
		}
		v, spelt := spelledBool(s)
		return spelt && v == got, true
	}
	return false, false
}

// describeBool explains a boolean reading that decided, for a deny reason
// or an explain step.
func describeBool(path string, v any, b bool) string {
	word := "false"
	if b {
		word = "true"
	}
	return path + " = " + truncate(jsonText(v), 60) + " read as the boolean " + word
}
