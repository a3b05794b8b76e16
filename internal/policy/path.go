package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

type segKind uint8

const (
	segKey   segKind = iota // .name or ["name"]
	segIndex                // [3]
	segAll                  // [*]
)

type seg struct {
	kind  segKind
	key   string
	index int
}

// argPath is a compiled args.… path.
type argPath struct {
	text     string
	segs     []seg
	wildcard bool
}

// parsePath parses a condition path. It returns either an args path or, for
// state.<scope>.<counter>, the scope and counter.
//
// Grammar:
//
//	path     = "args" seg+ | "state" scope "." counter
//	seg      = "." name | "[" digits "]" | "[*]" | "[" quoted "]"
//	name     = one or more characters other than . [ ] " ' and whitespace
//	quoted   = '"' chars '"' | "'" chars "'"   (\" \' \\ escapes)
//	scope    = "." name-with-dots | "[" quoted "]"
//
// In a state path the counter is the last dot-separated part, so a scope may
// itself contain dots (tool names such as "github.create_issue").
func parsePath(text string) (ap *argPath, scope, counter string, err error) {
	switch {
	case strings.HasPrefix(text, "args"):
		segs, err := parseSegs(text[len("args"):])
		if err != nil {
			return nil, "", "", err
		}
		if len(segs) == 0 {
			return nil, "", "", errors.New(`must name an argument, e.g. "args.amount"`)
		}
		p := &argPath{text: text, segs: segs}
		for _, s := range segs {
			if s.kind == segAll {
				p.wildcard = true
			}
		}
		return p, "", "", nil
	case strings.HasPrefix(text, "state"):
		rest := text[len("state"):]
		if strings.HasPrefix(rest, "[") {
			segs, err := parseSegs(rest)
			if err != nil {
				return nil, "", "", err
			}
			if len(segs) != 2 || segs[0].kind != segKey || segs[1].kind != segKey {
				return nil, "", "", errors.New("a state path must be state.<scope>.<counter>")
			}
			return nil, segs[0].key, segs[1].key, nil
		}
		if !strings.HasPrefix(rest, ".") {
			return nil, "", "", errors.New(`a path must start with "args." or "state."`)
		}
		rest = rest[1:]
		i := strings.LastIndexByte(rest, '.')
		if i <= 0 || i == len(rest)-1 {
			return nil, "", "", errors.New("a state path must be state.<scope>.<counter>")
		}
		scope, counter = rest[:i], rest[i+1:]
		if strings.ContainsAny(counter, "[]\"' \t") {
			return nil, "", "", fmt.Errorf("invalid counter name %q", counter)
		}
		return nil, scope, counter, nil
	}
	return nil, "", "", errors.New(`a path must start with "args." or "state."`)
}

func parseSegs(s string) ([]seg, error) {
	var segs []seg
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
			segs = append(segs, seg{kind: segKey, key: s[:n]})
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
func parseBracket(s string) (int, seg, error) {
	if len(s) >= 3 && s[1] == '*' && s[2] == ']' {
		return 3, seg{kind: segAll}, nil
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
				return 0, seg{}, errors.New(`only \" \' and \\ escapes are allowed in a quoted name`)
			case c == q:
				if i+1 >= len(s) || s[i+1] != ']' {
					return 0, seg{}, errors.New("expected ']' after quoted name")
				}
				if b.Len() == 0 {
					return 0, seg{}, errors.New("empty quoted name")
				}
				return i + 2, seg{kind: segKey, key: b.String()}, nil
			default:
				b.WriteByte(c)
			}
		}
		return 0, seg{}, errors.New("unterminated quoted name")
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return 0, seg{}, errors.New("missing ']'")
	}
	digits := s[1:end]
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, seg{}, fmt.Errorf("invalid index [%s]; use a non-negative integer, * or a quoted name", digits)
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n > 1<<30 {
		return 0, seg{}, fmt.Errorf("index [%s] is too large", digits)
	}
	return end + 1, seg{kind: segIndex, index: n}, nil
}

// member returns m[key], or else the value of the one key that equals key
// under Unicode case folding: servers that bind arguments case-insensitively
// (Go's encoding/json does) read {"Force": true} as force, so the policy must
// too. The gate has already refused arguments with two such keys, so there is
// at most one candidate.
func member(m map[string]any, key string) (any, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return nil, false
}

// lookup resolves a path without wildcards. ok is false when any step is
// missing or of the wrong shape.
func lookup(root any, segs []seg) (any, bool) {
	v := root
	for _, s := range segs {
		switch s.kind {
		case segKey:
			m, ok := v.(map[string]any)
			if !ok {
				return nil, false
			}
			if v, ok = member(m, s.key); !ok {
				return nil, false
			}
		case segIndex:
			a, ok := v.([]any)
			if !ok || s.index >= len(a) {
				return nil, false
			}
			v = a[s.index]
		default:
			return nil, false
		}
	}
	return v, true
}

// collect resolves a path with wildcards for explanations: it returns every
// value reached (missing ones omitted) and whether the path could be followed
// at all.
func collect(v any, segs []seg, out *[]any) bool {
	if len(segs) == 0 {
		*out = append(*out, v)
		return true
	}
	s := segs[0]
	switch s.kind {
	case segAll:
		a, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range a {
			collect(e, segs[1:], out)
		}
		return true
	default:
		x, ok := lookup(v, segs[:1])
		if !ok {
			return false
		}
		return collect(x, segs[1:], out)
	}
}
