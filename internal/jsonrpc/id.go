package jsonrpc

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is the one definition of when two raw ids name the same request.
// Ids are kept byte for byte (Parse never rewrites them), but a peer does not
// compare bytes: a JavaScript or Python server reads 1, 1.0 and 1e0 as one
// number and "\u0061" and "a" as one string, and answers with whichever
// spelling its encoder writes. Every table keyed by id (the pump's in-flight
// requests, the multiplexer's, a transport's pending calls) keys by IDKey.

// IDKey returns a canonical form of a raw JSON id: ids a peer reads as the
// same value get the same key, ids of different values different keys.
//
//   - A string is keyed by its decoded text, read as encoding/json reads it
//     (an invalid UTF-8 byte or an unpaired surrogate escape becomes U+FFFD).
//   - A number is keyed by its float64 value, as JavaScript reads it: 1, 1.0,
//     1e0 and 1.00000000000000001 are one id, so are -0 and 0, and a number
//     too large for a float64 is ±Inf. A peer that reads big integers exactly
//     (Python) could tell 9007199254740993 from 9007199254740992; treating
//     them as one can only refuse a request as a duplicate, never mismatch
//     an answer.
//   - Anything else (null, or what a lenient parser let through) is keyed by
//     its raw bytes.
//
// Keys of the three kinds never collide: a string's key starts with 's', a
// number's with 'n' and a digit, '-' or '+', and raw JSON is none of those.
func IDKey(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		s, ok := Unquote(raw)
		if !ok {
			return string(raw)
		}
		if !utf8.ValidString(s) {
			s = replaceInvalidUTF8(s)
		}
		return "s" + s
	case c == '-' || (c >= '0' && c <= '9'):
		if smallInt(raw) {
			// Most ids: the float path gives their own digits (see
			// AppendIDKey), without the conversions.
			return "n" + string(raw)
		}
		if !isJSONNumber(raw) {
			return string(raw)
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil && !math.IsInf(f, 0) {
			return string(raw)
		}
		if f == 0 {
			f = 0 // -0 is 0 to every peer
		}
		return "n" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	return string(raw)
}

// SameID reports whether two raw ids name the same request.
func SameID(a, b []byte) bool {
	if string(a) == string(b) {
		return true
	}
	return IDKey(a) == IDKey(b)
}

// PlainID reports whether a raw id is in its plain spelling: the one spelling
// of its value that PlainForm gives back (an escape-free string of valid
// UTF-8, or a decimal integer below 10^15 without sign or leading zeros).
// Each value has at most one plain spelling, so a table can key plain ids by
// their raw bytes and look every other spelling up through PlainForm(IDKey),
// without computing a key on the hot path. It does not allocate.
func PlainID(raw []byte) bool {
	if len(raw) == 0 {
		return true
	}
	if raw[0] == '"' {
		if len(raw) < 2 || raw[len(raw)-1] != '"' {
			return false
		}
		body := raw[1 : len(raw)-1]
		ascii := true
		for _, c := range body {
			switch {
			case c == '\\' || c == '"' || c < 0x20:
				return false
			case c >= utf8.RuneSelf:
				ascii = false
			}
		}
		return ascii || utf8.Valid(body)
	}
	if len(raw) > 15 || (raw[0] == '0' && len(raw) > 1) {
		return false
	}
	for _, c := range raw {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// PlainForm returns the plain spelling (see PlainID) of the value an IDKey
// key stands for, when that value has one. For every plain id p,
// PlainForm(IDKey(p)) is p.
func PlainForm(key string) (string, bool) {
	if len(key) < 2 {
		if key == "s" {
			return `""`, true
		}
		return "", false
	}
	switch key[0] {
	case 's':
		text := key[1:]
		if !utf8.ValidString(text) {
			return "", false
		}
		for i := 0; i < len(text); i++ {
			if c := text[i]; c == '\\' || c == '"' || c < 0x20 {
				return "", false
			}
		}
		return `"` + text + `"`, true
	case 'n':
		f, err := strconv.ParseFloat(key[1:], 64)
		if err == nil && f >= 0 && f < 1e15 && f == math.Trunc(f) {
			return strconv.FormatInt(int64(f), 10), true
		}
	}
	return "", false
}

// isJSONNumber reports whether b is a number as JSON spells it (strconv
// accepts more: hex, underscores, "Inf").
func isJSONNumber(b []byte) bool {
	i := 0
	if b[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(b)
}

// replaceInvalidUTF8 replaces each byte that is not part of a valid UTF-8
// sequence with U+FFFD, as encoding/json does when it decodes a string.
func replaceInvalidUTF8(s string) string {
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteString(s[i : i+size])
		}
		i += size
	}
	return sb.String()
}

// OtherKind returns the id of the other kind that a peer which keys
// requests by property name (a JavaScript object) reads as raw: for the
// string "2" the number 2, for the number 2 (or 2.0, 2e0) the string "2".
// It returns nil when there is none: a string that is not a number as
// JavaScript writes it, a number that is not finite, or anything else.
func OtherKind(raw []byte) []byte {
	if len(raw) == 0 {
		return nil
	}
	switch c := raw[0]; {
	case c == '"':
		s, ok := Unquote(raw)
		if !ok || s == "" || !isJSONNumber([]byte(s)) {
			return nil
		}
		// Only a string that is how JavaScript writes the number: "2" is
		// the property of 2, "2.0" and "02" are properties of their own.
		if f, err := strconv.ParseFloat(s, 64); err != nil || jsString(f) != s {
			return nil
		}
		return []byte(s)
	case c == '-' || (c >= '0' && c <= '9'):
		if !isJSONNumber(raw) {
			return nil
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil
		}
		return strconv.AppendQuote(nil, jsString(f))
	}
	return nil
}

// jsString is how JavaScript writes a number as a property name, for the
// integers and decimals ids are made of: 2, -1, 0.5 (1e21 and beyond, and
// below 1e-6, JavaScript writes with an exponent; those are written so too).
func jsString(f float64) string {
	if f == 0 {
		return "0"
	}
	if a := math.Abs(f); a >= 1e21 || a < 1e-6 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes 1e+21 as JavaScript does, and 1e-07 where JavaScript
		// writes 1e-7.
		if i := strings.Index(s, "e-0"); i >= 0 {
			s = s[:i+2] + s[i+3:]
		}
		return s
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
