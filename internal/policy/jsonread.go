package policy

import "errors"

// A string argument can carry JSON text: {"labels": "[\"prod\"]"}. A
// server that expects an array or an object there may parse it (FastMCP
// does, with json.loads, before validating), and then the argument it
// acts on is the array, not the string, and an escape inside the text
// (\u006f for "o") hides what a condition looks for. A condition on such a
// string is therefore judged under both readings, the string and the value
// its text spells, the way numbers (numread.go) and booleans (boolread.go)
// are: a deny or approval rule fires when either reading fires, an evaluate
// rule admits only when both hold. Only a reading the operator can judge
// counts (a regex is not judged against an object), so that a string that
// merely looks like JSON is judged as the string it is.

// jsonState is what a string's text reads as.
type jsonState uint8

const (
	jsonNone      jsonState = iota // not an array or object in JSON text
	jsonValue                      // the array or object it spells
	jsonAmbiguous                  // JSON that servers read differently: a repeated key, NaN
)

// jsonReading returns the array or object a string spells as JSON text
// (surrounded by JSON white space, as json.loads allows).
func jsonReading(s string) (any, jsonState) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	if i == len(s) || s[i] != '[' && s[i] != '{' {
		return nil, jsonNone
	}
	d := argDecoder{b: []byte(s), s: s, i: i, lax: true}
	v, err := d.value()
	if err == nil {
		d.ws()
		if d.i != len(d.b) {
			return nil, jsonNone // trailing text: json.loads refuses it
		}
		return v, jsonValue
	}
	var dup dupKeyError
	if errors.Is(err, errNonFinite) || errors.As(err, &dup) {
		return nil, jsonAmbiguous
	}
	return nil, jsonNone
}

// withJSONReading combines o, the outcome of a condition on a string,
// with the outcome on the value the string spells as JSON text (see
// above), under m: the strictest for the rule.
func (c *condition) withJSONReading(s string, o outcome, m mode) outcome {
	j, state := jsonReading(s)
	var r outcome
	switch state {
	case jsonNone:
		return o
	case jsonAmbiguous:
		r = unknown
	default:
		if r = c.testValue(j, m); r == unknown {
			return o // the operator does not judge this kind of value
		}
	}
	switch {
	case m == modeAll && (o == no || r == no), m != modeAll && o == no && r == no:
		return no
	case m != modeAll && (o == yes || r == yes), o == yes && r == yes:
		return yes
	}
	return unknown
}
