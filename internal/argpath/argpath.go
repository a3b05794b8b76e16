// Package argpath owns the one grammar for paths into a tool call's
// arguments, shared by policy conditions (internal/policy) and audit
// redaction (internal/audit), so that a path means the same to both:
//
//	path   = "args" seg+
//	seg    = "." name | "[" digits "]" | "[*]" | "[" quoted "]"
//	name   = one or more characters other than . [ ] " ' and white space
//	quoted = '"' chars '"' | "'" chars "'"   (\" \' \\ escapes; not empty)
//	digits = a non-negative decimal integer up to 2^30
//
// It is stdlib only and a leaf.
package argpath

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Kind is the kind of a segment.
type Kind uint8

const (
	Key   Kind = iota // .name or ["name"]
	Index             // [3]
	All               // [*]
)

// Seg is one step of a path.
type Seg struct {
	Kind  Kind
	Key   string
	Index int
}

// Path is a parsed args path.
type Path struct {
	Text     string
	Segs     []Seg
	Wildcard bool // some segment is [*]
}

// Parse parses an args path.
func Parse(text string) (*Path, error) {
	rest, ok := strings.CutPrefix(text, "args")
	if !ok {
		return nil, errors.New(`a path must start with "args."`)
	}
	segs, err := ParseSegs(rest)
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, errors.New(`must name an argument, e.g. "args.amount"`)
	}
	p := &Path{Text: text, Segs: segs}
	for _, s := range segs {
		if s.Kind == All {
			p.Wildcard = true
		}
	}
	return p, nil
}

// ParseSegs parses a sequence of segments (what follows "args").
func ParseSegs(s string) ([]Seg, error) {
	var segs []Seg
	for len(s) > 0 {
		switch s[0] {
		case '.':
			s = s[1:]
			n := 0
			for n < len(s) && !strings.ContainsRune(".[]\"' \t\r\n", rune(s[n])) {
				n++
			}
			if n == 0 {
				return nil, errors.New("empty name after '.'")
			}
			segs = append(segs, Seg{Kind: Key, Key: s[:n]})
			s = s[n:]
		case '[':
			end, sg, err := parseBracket(s)
			if err != nil {
				return nil, err
			}
			segs = append(segs, sg)
			s = s[end:]
		default:
			return nil, fmt.Errorf("unexpected %q; use .name, [index], [*] or [\"name\"]", s[:1])
		}
	}
	return segs, nil
}

// parseBracket parses s starting at '[' and returns the length consumed.
func parseBracket(s string) (int, Seg, error) {
	if len(s) >= 3 && s[1] == '*' && s[2] == ']' {
		return 3, Seg{Kind: All}, nil
	}
	if len(s) >= 2 && (s[1] == '"' || s[1] == '\'') {
		q := s[1]
		var b strings.Builder
		for i := 2; i < len(s); i++ {
			c := s[i]
			switch {
			case c == '\\' && i+1 < len(s) && (s[i+1] == q || s[i+1] == '\\'):
				b.WriteByte(s[i+1])
				i++
			case c == '\\':
				return 0, Seg{}, errors.New(`only \" \' and \\ escapes are allowed in a quoted name`)
			case c == q:
				if i+1 >= len(s) || s[i+1] != ']' {
					return 0, Seg{}, errors.New("expected ']' after quoted name")
				}
				if b.Len() == 0 {
					return 0, Seg{}, errors.New("empty quoted name")
				}
				return i + 2, Seg{Kind: Key, Key: b.String()}, nil
			default:
				b.WriteByte(c)
			}
		}
		return 0, Seg{}, errors.New("unterminated quoted name")
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return 0, Seg{}, errors.New("missing ']'")
	}
	digits := s[1:end]
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, Seg{}, fmt.Errorf("invalid index [%s]; use a non-negative integer, * or a quoted name", digits)
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n > 1<<30 {
		return 0, Seg{}, fmt.Errorf("index [%s] is too large", digits)
	}
	return end + 1, Seg{Kind: Index, Index: n}, nil
}
