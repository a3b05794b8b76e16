// Package canonjson owns Tollgate's one definition of canonical JSON, used
// for the audit's args_sha256 and the approval fingerprint: object keys
// sorted by the bytes of their UTF-8 text, no insignificant white space,
// strings by their characters (escaped as encoding/json escapes them, HTML
// escaping off), numbers by their exact decimal value spelled one way (1,
// 1.0, 1e0 and 10e-1 are "1"; -0 is "0"), arrays in order. Stdlib only.
package canonjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Hash returns the hex SHA-256 of the canonical form of a JSON value
// (see Canonical). Empty input hashes as {} (a call without arguments).
func Hash(raw []byte) (string, error) {
	var c Encoder
	var h [64]byte
	b, err := c.AppendHash(h[:0], raw)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Canonical re-encodes a JSON value so that equal values have equal bytes:
// object keys sorted by the bytes of their UTF-8 text, no
// insignificant white space, strings escaped the way encoding/json escapes
// them without HTML escaping, and numbers normalised to one exact decimal
// form (1, 1.0 and 1e0 are all "1"; 0.50 is "0.5"; -0 is "0"). Numbers are
// never rounded through float64. Empty input is treated as {}.
func Canonical(raw []byte) ([]byte, error) {
	var c Encoder
	if c.canonical(raw) {
		return c.out, nil
	}
	return canonicalTree(raw)
}

// canonicalTree is Canonical by way of a decoded tree (encoding/json with
// UseNumber). It is the definition the scanner in canonical_scan.go is
// fuzzed against, and what the scanner falls back to for input it does not
// take on itself (invalid JSON, invalid UTF-8, lone surrogates, deep
// nesting, huge exponents), so that those get exactly the same result or
// error as before.
func canonicalTree(raw []byte) ([]byte, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("{}"), nil
	}
	v, err := Decode(raw)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := Write(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Decode decodes JSON keeping numbers as json.Number, for callers that
// change a value before writing it with Write.
func Decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("canonical json: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("canonical json: trailing data after the value")
	}
	return v, nil
}

// Write writes a decoded value (see Decode) in canonical form.
func Write(b *bytes.Buffer, v any) error {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case json.Number:
		n, err := canonicalNumber(string(x))
		if err != nil {
			return err
		}
		b.WriteString(n)
	case string:
		writeString(b, x)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := Write(b, e); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			if err := Write(b, x[k]); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	default:
		return fmt.Errorf("canonical json: unexpected %T", v)
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode adds a newline
}

// Number is the canonical spelling of a JSON number literal.
func Number(lit string) (string, error) { return canonicalNumber(lit) }

// canonicalNumber normalises a JSON number literal exactly: the value is
// digits × 10^exp with no leading or trailing zeros in digits; it is written
// as an integer when 0 ≤ exp and the integer has at most 21 digits, as a
// plain decimal when the point falls within six places of the digits, and
// otherwise as d.ddde±x.
func canonicalNumber(lit string) (string, error) {
	s := lit
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var exp int64
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(s[i+1:], 10, 64)
		if err != nil || e > 1<<40 || e < -(1<<40) {
			return "", fmt.Errorf("canonical json: number %q out of range", lit)
		}
		exp = e
		s = s[:i]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	exp -= int64(len(frac))
	digits = strings.TrimLeft(digits, "0")
	if digits == "" {
		return "0", nil
	}
	trimmed := strings.TrimRight(digits, "0")
	exp += int64(len(digits) - len(trimmed))
	digits = trimmed
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	n := int64(len(digits))
	switch point := n + exp; {
	case exp >= 0 && point <= 21:
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", int(exp)))
	case exp < 0 && point > 0:
		b.WriteString(digits[:point])
		b.WriteByte('.')
		b.WriteString(digits[point:])
	case exp < 0 && point > -6:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", int(-point)))
		b.WriteString(digits)
	default:
		b.WriteString(digits[:1])
		if n > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		if point-1 >= 0 {
			b.WriteByte('+')
		}
		b.WriteString(strconv.FormatInt(point-1, 10))
	}
	return b.String(), nil
}
