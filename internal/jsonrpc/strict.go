package jsonrpc

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrAmbiguous is wrapped by every error CheckUnambiguous returns.
var ErrAmbiguous = errors.New("ambiguous JSON")

// Members calls fn for each member of the JSON object v with the decoded key
// and the raw value. It fails when v is not a valid object.
func Members(v []byte, fn func(key string, val []byte) error) error {
	i := skipWS(v, 0)
	end, err := skipObject(v, i, 1, false, func(key []byte, esc bool, val []byte) error {
		if esc {
			return fn(unescape(key), val)
		}
		return fn(memberKey(key), val)
	})
	if err != nil {
		return err
	}
	if skipWS(v, end) != len(v) {
		return errSyntax
	}
	return nil
}

// memberKey is string(key) without an allocation for the keys MCP messages
// carry on every call (Members passes its callback a string, which would
// otherwise be copied for each member).
func memberKey(key []byte) string {
	switch string(key) {
	case "name":
		return "name"
	case "arguments":
		return "arguments"
	case "_meta":
		return "_meta"
	case "progressToken":
		return "progressToken"
	case "content":
		return "content"
	case "type":
		return "type"
	case "text":
		return "text"
	case "isError":
		return "isError"
	case "structuredContent":
		return "structuredContent"
	case "uri":
		return "uri"
	case "ref":
		return "ref"
	case "cursor":
		return "cursor"
	case "nextCursor":
		return "nextCursor"
	case "tools":
		return "tools"
	case "description":
		return "description"
	case "inputSchema":
		return "inputSchema"
	case "properties":
		return "properties"
	case "required":
		return "required"
	case "task":
		return "task"
	case "traceparent":
		return "traceparent"
	case "resultType":
		return "resultType"
	}
	return string(key)
}

// CheckUnambiguous verifies that the JSON value v reads the same in every
// decoder: valid JSON, strings in valid UTF-8 without unpaired surrogate
// escapes, and no object at any depth holding two keys that are equal or equal
// under Unicode case folding (decoders differ on which one wins, and Go's
// encoding/json matches struct fields case-insensitively). Errors wrap
// ErrAmbiguous or describe the syntax problem.
func CheckUnambiguous(v []byte) error {
	return CheckUnambiguousMembers(v, nil)
}

// CheckUnambiguousMembers is CheckUnambiguous that also calls fn (when not
// nil) with each top-level member of an object, in the same pass: the key
// decoded (it aliases v unless it held escapes) and the raw value.
func CheckUnambiguousMembers(v []byte, fn func(key, val []byte) error) error {
	i := skipWS(v, 0)
	end, err := checkValue(v, i, 0, fn)
	if err != nil {
		return err
	}
	if skipWS(v, end) != len(v) {
		return errSyntax
	}
	return nil
}

func checkValue(b []byte, i int, depth int, top func(key, val []byte) error) (int, error) {
	if depth > maxDepth {
		return i, errTooDeep
	}
	if i >= len(b) {
		return i, errSyntax
	}
	switch b[i] {
	case '{':
		return checkObject(b, i, depth, top)
	case '[':
		j := skipWS(b, i+1)
		if j < len(b) && b[j] == ']' {
			return j + 1, nil
		}
		for {
			var err error
			j, err = checkValue(b, j, depth+1, nil)
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
	}
	return skipValue(b, i, depth, true)
}

// checkObject checks the object at b[i]: small objects compare keys
// pairwise, large ones through a map of folded keys.
func checkObject(b []byte, i int, depth int, top func(key, val []byte) error) (int, error) {
	var small [16][]byte
	keys := small[:0]
	var folded map[string][]byte
	j := skipWS(b, i+1)
	if j < len(b) && b[j] == '}' {
		return j + 1, nil
	}
	for {
		raw, end, esc, err := scanString(b, j, true)
		if err != nil {
			return j, err
		}
		k := raw
		if esc {
			k = []byte(unescape(raw))
		}
		if folded != nil {
			f := foldKey(string(k))
			if prev, dup := folded[f]; dup {
				return j, ambiguous(string(prev), string(k))
			}
			folded[f] = k
		} else {
			for _, prev := range keys {
				if bytes.EqualFold(prev, k) {
					return j, ambiguous(string(prev), string(k))
				}
			}
			if len(keys) == len(small) {
				folded = make(map[string][]byte, 2*len(keys))
				for _, p := range keys {
					folded[foldKey(string(p))] = p
				}
				folded[foldKey(string(k))] = k
			} else {
				keys = append(keys, k)
			}
		}
		j = skipWS(b, end)
		if j >= len(b) || b[j] != ':' {
			return j, errSyntax
		}
		j = skipWS(b, j+1)
		vs := j
		j, err = checkValue(b, j, depth+1, nil)
		if err != nil {
			return j, err
		}
		if top != nil {
			if err := top(k, b[vs:j]); err != nil {
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

func ambiguous(a, b string) error {
	if a == b {
		return fmt.Errorf("%w: duplicate key %q", ErrAmbiguous, b)
	}
	return fmt.Errorf("%w: keys %q and %q differ only by case", ErrAmbiguous, a, b)
}

// foldKey maps every rune to the smallest rune of its case-folding orbit, so
// that foldKey(a) == foldKey(b) exactly when strings.EqualFold(a, b).
func foldKey(s string) string {
	var sb strings.Builder
	sb.Grow(len(s))
	for _, r := range s {
		min := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < min {
				min = f
			}
		}
		if min < utf8.RuneSelf {
			sb.WriteByte(byte(min))
		} else {
			sb.WriteRune(min)
		}
	}
	return sb.String()
}

// Offset returns where inner, a subslice of outer obtained by slicing (as
// every slice this package returns is), starts within outer.
func Offset(outer, inner []byte) int { return cap(outer) - cap(inner) }

// Elements calls fn with the raw bytes of each element of the JSON array v.
func Elements(v []byte, fn func(elem []byte) error) error {
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '[' {
		return errSyntax
	}
	j, err := elementsAt(v, i, fn)
	if err != nil {
		return err
	}
	if skipWS(v, j) != len(v) {
		return errSyntax
	}
	return nil
}

// ArrayMember finds the member key of the JSON object v and, when its value
// is an array, calls fn with each element, reading the array once (Members
// then Elements would skim it twice). It returns the array's span, nil when
// the member is absent or not an array. A key that appears twice is an
// ErrAmbiguous error: readers disagree on which one counts.
func ArrayMember(v []byte, key string, fn func(elem []byte) error) (span []byte, err error) {
	i := skipWS(v, 0)
	if i >= len(v) || v[i] != '{' {
		return nil, errSyntax
	}
	j := skipWS(v, i+1)
	if j < len(v) && v[j] == '}' {
		return nil, nil
	}
	found := false
	for {
		raw, end, esc, err := scanString(v, j, false)
		if err != nil {
			return nil, err
		}
		k := string(raw)
		if esc {
			k = unescape(raw)
		}
		j = skipWS(v, end)
		if j >= len(v) || v[j] != ':' {
			return nil, errSyntax
		}
		j = skipWS(v, j+1)
		vs := j
		if k == key {
			if found {
				return nil, fmt.Errorf("%w: duplicate key %q", ErrAmbiguous, key)
			}
			found = true
		}
		if k == key && j < len(v) && v[j] == '[' {
			if j, err = elementsAt(v, j, fn); err != nil {
				return nil, err
			}
			span = v[vs:j]
		} else if j, err = skipValue(v, j, 1, false); err != nil {
			return nil, err
		}
		j = skipWS(v, j)
		if j >= len(v) {
			return nil, errSyntax
		}
		if v[j] == '}' {
			if skipWS(v, j+1) != len(v) {
				return nil, errSyntax
			}
			return span, nil
		}
		if v[j] != ',' {
			return nil, errSyntax
		}
		j = skipWS(v, j+1)
	}
}

// elementsAt calls fn with each element of the array at v[i] and returns
// the index just past it.
func elementsAt(v []byte, i int, fn func(elem []byte) error) (int, error) {
	j := skipWS(v, i+1)
	if j < len(v) && v[j] == ']' {
		return j + 1, nil
	}
	for {
		s := j
		var err error
		if j, err = skipValue(v, j, 1, false); err != nil {
			return j, err
		}
		if err := fn(v[s:j]); err != nil {
			return j, err
		}
		j = skipWS(v, j)
		if j >= len(v) {
			return j, errSyntax
		}
		if v[j] == ']' {
			return j + 1, nil
		}
		if v[j] != ',' {
			return j, errSyntax
		}
		j = skipWS(v, j+1)
	}
}
