package jsonrpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting so that a hostile message cannot exhaust the stack.
const maxDepth = 1000

var (
	errSyntax   = errors.New("invalid JSON")
	errTooDeep  = errors.New("JSON nested too deeply")
	errBadUTF8  = errors.New("invalid UTF-8 in JSON string")
	errSurrogat = errors.New("unpaired surrogate escape in JSON string")
)

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// scanString reads the JSON string starting at b[i] (which must be '"') and
// returns the raw contents between the quotes, the index after the closing
// quote, and whether the contents hold any escape. It validates escapes and
// rejects control characters; with strict it also rejects invalid UTF-8 and
// unpaired surrogate escapes, which decoders resolve differently.
func scanString(b []byte, i int, strict bool) (raw []byte, end int, escaped bool, err error) {
	if i >= len(b) || b[i] != '"' {
		return nil, i, false, errSyntax
	}
	start := i + 1
	j := start
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return nil, len(b), false, errSyntax
		}
		seg := b[j : j+k]
		bs := bytes.IndexByte(seg, '\\')
		if bs < 0 {
			if err := checkPlain(seg, strict); err != nil {
				return nil, j, false, err
			}
			j += k
			break
		}
		// An escape before the next quote: validate up to and through it.
		if err := checkPlain(seg[:bs], strict); err != nil {
			return nil, j, false, err
		}
		escaped = true
		j += bs
		n, err := scanEscape(b, j, strict)
		if err != nil {
			return nil, j, false, err
		}
		j = n
	}
	return b[start:j], j + 1, escaped, nil
}

// checkPlain checks an escape-free run of a string. Only strict reading
// checks it: messages from the upstream are skimmed at memory speed.
func checkPlain(seg []byte, strict bool) error {
	if !strict {
		return nil
	}
	for _, c := range seg {
		if c < 0x20 {
			return errSyntax
		}
	}
	if !utf8.Valid(seg) {
		return errBadUTF8
	}
	return nil
}

// scanEscape validates the escape at b[i] == '\\' and returns the index after it.
func scanEscape(b []byte, i int, strict bool) (int, error) {
	if i+1 >= len(b) {
		return i, errSyntax
	}
	switch b[i+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return i + 2, nil
	case 'u':
		r, ok := hex4(b, i+2)
		if !ok {
			return i, errSyntax
		}
		if !strict || !utf16.IsSurrogate(r) {
			return i + 6, nil
		}
		// A high surrogate must be followed by a low one.
		if r >= 0xDC00 || i+11 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
			return i, errSurrogat
		}
		r2, ok := hex4(b, i+8)
		if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
			return i, errSurrogat
		}
		return i + 12, nil
	}
	return i, errSyntax
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// scanNumber validates the JSON number at b[i] and returns the index after it.
func scanNumber(b []byte, i int) (int, error) {
	j := i
	if j < len(b) && b[j] == '-' {
		j++
	}
	if j >= len(b) {
		return i, errSyntax
	}
	if b[j] == '0' {
		j++
	} else if b[j] >= '1' && b[j] <= '9' {
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	} else {
		return i, errSyntax
	}
	if j < len(b) && b[j] == '.' {
		j++
		d := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == d {
			return i, errSyntax
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		d := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		if j == d {
			return i, errSyntax
		}
	}
	return j, nil
}

// skipValue validates the JSON value starting at b[i] (no leading white
// space) and returns the index just after it.
func skipValue(b []byte, i int, depth int, strict bool) (int, error) {
	if i >= len(b) {
		return i, errSyntax
	}
	switch c := b[i]; {
	case c == '"':
		_, end, _, err := scanString(b, i, strict)
		return end, err
	case (c == '{' || c == '[') && !strict:
		return skim(b, i)
	case c == '{':
		return skipObject(b, i, depth+1, strict, nil)
	case c == '[':
		if depth+1 > maxDepth {
			return i, errTooDeep
		}
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == ']' {
			return j + 1, nil
		}
		for {
			var err error
			j, err = skipValue(b, j, depth+1, strict)
			if err != nil {
				return j, err
			}
			j = skipWS(b, j)
			if j >= len(b) {
				return j, errSyntax
			}
			if b[j] == ']' {
				return j + 1, nil
			}
			if b[j] != ',' {
				return j, errSyntax
			}
			j = skipWS(b, j+1)
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	case c == 't':
		return lit(b, i, "true")
	case c == 'f':
		return lit(b, i, "false")
	case c == 'n':
		return lit(b, i, "null")
	}
	return i, errSyntax
}

func lit(b []byte, i int, s string) (int, error) {
	if len(b)-i >= len(s) && string(b[i:i+len(s)]) == s {
		return i + len(s), nil
	}
	return i, errSyntax
}

// member is called for each key of an object with the key's raw bytes
// (escapes undecoded), whether it holds escapes, and the value's span.
type member func(key []byte, escaped bool, val []byte) error

// skipObject validates the object at b[i] == '{', calling fn (if not nil) for
// each member, and returns the index after the closing brace.
func skipObject(b []byte, i int, depth int, strict bool, fn member) (int, error) {
	if depth > maxDepth {
		return i, errTooDeep
	}
	if i >= len(b) || b[i] != '{' {
		return i, errSyntax
	}
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == '}' {
		return j + 1, nil
	}
	for {
		key, end, esc, err := scanString(b, j, strict)
		if err != nil {
			return j, err
		}
		j = skipWS(b, end)
		if j >= len(b) || b[j] != ':' {
			return j, errSyntax
		}
		j = skipWS(b, j+1)
		vs := j
		j, err = skipValue(b, j, depth, strict)
		if err != nil {
			return j, err
		}
		if fn != nil {
			if err := fn(key, esc, b[vs:j]); err != nil {
				return j, err
			}
		}
		j = skipWS(b, j)
		if j >= len(b) {
			return j, errSyntax
		}
		if b[j] == '}' {
			return j + 1, nil
		}
		if b[j] != ',' {
			return j, errSyntax
		}
		j = skipWS(b, j+1)
	}
}

// skim finds the end of the object or array at b[i] by matching brackets and
// jumping over strings, without validating what lies between: the fast path
// for messages from the upstream, which are relayed, not judged.
func skim(b []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(b); j++ {
		c := b[j]
		if !structural[c] {
			continue
		}
		switch c {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		case '"':
			k, err := stringEnd(b, j+1)
			if err != nil {
				return len(b), err
			}
			j = k
		}
	}
	return len(b), errSyntax
}

// stringEnd returns the index of the quote that ends the string whose
// contents start at b[k], jumping over escapes without checking them. Most
// strings (keys above all) are short: the first 32 bytes are looked at
// eight at a time, the rest with IndexByte.
func stringEnd(b []byte, k int) (int, error) {
	start := k
	for range 4 {
		if k+8 > len(b) {
			break
		}
		t := quoteOrEscapeIn(binary.LittleEndian.Uint64(b[k:]))
		if t == 0 {
			k += 8
			continue
		}
		k += bits.TrailingZeros64(t) >> 3
		if b[k] == '"' {
			return k, nil
		}
		k += 2 // the backslash and the byte it escapes
		start = k
		if k > len(b) {
			return len(b), errSyntax
		}
	}
	for {
		q := bytes.IndexByte(b[k:], '"')
		if q < 0 {
			return len(b), errSyntax
		}
		k += q
		// The quote ends the string unless an odd run of backslashes
		// (after the last escape already jumped over) escapes it.
		n := 0
		for p := k - 1; p >= start && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return k, nil
		}
		k++
	}
}

// quoteOrEscapeIn marks, in the high bit of each byte, the bytes of x
// (little-endian) that are '"' or '\\': exactly for the lowest marked byte,
// which is all stringEnd uses (a borrow may mark bytes above it).
func quoteOrEscapeIn(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q := x ^ (ones * '"')
	e := x ^ (ones * '\\')
	return ((q-ones)&^q | (e-ones)&^e) & highs
}

// structural marks the bytes skim stops at.
var structural = [256]bool{'{': true, '}': true, '[': true, ']': true, '"': true}

// skipObjectSkim is skipObject for the top level of a message: the value of
// member skimKey is skimmed (structure only) instead of validated.
func skipObjectSkim(b []byte, i int, strict bool, skimKey string, fn member) (int, error) {
	if i >= len(b) || b[i] != '{' {
		return i, errSyntax
	}
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == '}' {
		return j + 1, nil
	}
	for {
		key, end, esc, err := scanString(b, j, strict)
		if err != nil {
			return j, err
		}
		j = skipWS(b, end)
		if j >= len(b) || b[j] != ':' {
			return j, errSyntax
		}
		j = skipWS(b, j+1)
		vs := j
		if !esc && string(key) == skimKey && j < len(b) && (b[j] == '{' || b[j] == '[') {
			j, err = skim(b, j)
		} else {
			j, err = skipValue(b, j, 1, strict)
		}
		if err != nil {
			return j, err
		}
		if err := fn(key, esc, b[vs:j]); err != nil {
			return j, err
		}
		j = skipWS(b, j)
		if j >= len(b) {
			return j, errSyntax
		}
		if b[j] == '}' {
			return j + 1, nil
		}
		if b[j] != ',' {
			return j, errSyntax
		}
		j = skipWS(b, j+1)
	}
}
