package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// errArgs is returned for arguments that are not one well-formed JSON object.
var errArgs = errors.New("arguments are not a JSON object")

// argDecoder turns the raw arguments into the values conditions read:
// map[string]any, []any, string, json.Number (exact text), bool and nil. It
// is a hand-written recursive reader rather than encoding/json because it
// runs on every call a condition inspects: it never reflects, and the
// strings it returns (keys, strings without escapes, numbers) are
// substrings of one copy of the whole text, so it allocates that copy,
// the containers and the interface value of each string and number.
type argDecoder struct {
	b   []byte
	s   string // b as a string: keys and values are its substrings
	i   int
	d   int  // depth
	lax bool // NaN, Infinity and -Infinity are errNonFinite, not malformed
}

// errNonFinite is what a lax decoder returns for NaN, Infinity or
// -Infinity: not JSON, but Python's json.loads reads them.
var errNonFinite = errors.New("a non-finite number")

// dupKeyError is the error for an object that repeats a key: servers
// disagree on which value counts.
type dupKeyError struct{ key string }

func (e dupKeyError) Error() string { return "arguments repeat the key " + e.key }

const maxArgDepth = 512

func (d *argDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *argDecoder) value() (any, error) {
	d.ws()
	if d.i >= len(d.b) {
		return nil, errArgs
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == 't':
		return d.lit("true", true)
	case c == 'f':
		return d.lit("false", false)
	case c == 'n':
		return d.lit("null", nil)
	case d.lax && (c == 'N' || c == 'I' || c == '-' && d.i+1 < len(d.b) && d.b[d.i+1] == 'I'):
		return nil, errNonFinite
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return nil, errArgs
}

func (d *argDecoder) lit(s string, v any) (any, error) {
	if !bytes.HasPrefix(d.b[d.i:], []byte(s)) {
		return nil, errArgs
	}
	d.i += len(s)
	return v, nil
}

func (d *argDecoder) object() (any, error) {
	if d.d++; d.d > maxArgDepth {
		return nil, errArgs
	}
	defer func() { d.d-- }()
	d.i++ // '{'
	m := make(map[string]any)
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return m, nil
	}
	for {
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, errArgs
		}
		k, err := d.key()
		if err != nil {
			return nil, err
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, errArgs
		}
		d.i++
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		key := k
		if _, dup := m[key]; dup {
			return nil, dupKeyError{key}
		}
		m[key] = v
		d.ws()
		if d.i >= len(d.b) {
			return nil, errArgs
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return m, nil
		default:
			return nil, errArgs
		}
	}
}

func (d *argDecoder) array() (any, error) {
	if d.d++; d.d > maxArgDepth {
		return nil, errArgs
	}
	defer func() { d.d-- }()
	d.i++ // '['
	a := []any{}
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return a, nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.ws()
		if d.i >= len(d.b) {
			return nil, errArgs
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return a, nil
		default:
			return nil, errArgs
		}
	}
}

func (d *argDecoder) str() (any, error) {
	s, err := d.text()
	if err != nil {
		return nil, err
	}
	return s, nil
}

// key reads an object's key.
func (d *argDecoder) key() (string, error) { return d.text() }

// text reads the string that starts at d.i.
func (d *argDecoder) text() (string, error) {
	start := d.i + 1
	for j := start; j < len(d.b); j++ {
		switch c := d.b[j]; {
		case c == '"':
			d.i = j + 1
			return d.s[start:j], nil
		case c == '\\':
			return d.escapedStr()
		case c < 0x20:
			return "", errArgs
		}
	}
	return "", errArgs
}

// escapedStr decodes a string holding escapes with encoding/json, which
// knows them all; such strings are rare.
func (d *argDecoder) escapedStr() (string, error) {
	j := d.i + 1
	for j < len(d.b) {
		if d.b[j] == '\\' {
			j += 2
			continue
		}
		if d.b[j] == '"' {
			var s string
			if err := json.Unmarshal(d.b[d.i:j+1], &s); err != nil {
				return "", errArgs
			}
			d.i = j + 1
			return s, nil
		}
		j++
	}
	return "", errArgs
}

func (d *argDecoder) number() (any, error) {
	start := d.i
	j := d.i
	if d.b[j] == '-' {
		j++
	}
	digits := func() int {
		n := 0
		for j < len(d.b) && d.b[j] >= '0' && d.b[j] <= '9' {
			j++
			n++
		}
		return n
	}
	if j < len(d.b) && d.b[j] == '0' {
		j++
	} else if digits() == 0 {
		return nil, errArgs
	}
	if j < len(d.b) && d.b[j] == '.' {
		j++
		if digits() == 0 {
			return nil, errArgs
		}
	}
	if j < len(d.b) && (d.b[j] == 'e' || d.b[j] == 'E') {
		j++
		if j < len(d.b) && (d.b[j] == '+' || d.b[j] == '-') {
			j++
		}
		if digits() == 0 {
			return nil, errArgs
		}
	}
	d.i = j
	return json.Number(d.s[start:j]), nil
}

// decodeArgsFast decodes raw arguments; see decodeArgs for the contract.
func decodeArgsFast(raw []byte) (map[string]any, error) {
	if !utf8.Valid(raw) {
		return nil, errors.New("arguments are not valid UTF-8")
	}
	d := argDecoder{b: raw, s: string(raw)}
	d.ws()
	if d.i >= len(raw) || raw[d.i] != '{' {
		return nil, errArgs
	}
	v, err := d.object()
	if err != nil {
		return nil, err
	}
	d.ws()
	if d.i != len(raw) {
		return nil, errors.New("arguments have trailing data")
	}
	return v.(map[string]any), nil
}
