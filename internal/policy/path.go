package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/argpath"
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
// Args paths follow the one grammar of internal/argpath, which audit
// redaction shares:
//
//	path     = "args" seg+ | "state" scope "." counter
//	seg      = "." name | "[" digits "]" | "[*]" | "[" quoted "]"
//	scope    = "." name-with-dots | "[" quoted "]"
//
// In a state path the counter is the last dot-separated part, so a scope may
// itself contain dots (tool names such as "github.create_issue").
func parsePath(text string) (ap *argPath, scope, counter string, err error) {
	switch {
	case strings.HasPrefix(text, "args"):
		p, err := argpath.Parse(text)
		if err != nil {
			return nil, "", "", err
		}
		return &argPath{text: p.Text, segs: fromArgpath(p.Segs), wildcard: p.Wildcard}, "", "", nil
	case strings.HasPrefix(text, "state"):
		rest := text[len("state"):]
		if strings.HasPrefix(rest, "[") {
			segs, err := argpath.ParseSegs(rest)
			if err != nil {
				return nil, "", "", err
			}
			if len(segs) != 2 || segs[0].Kind != argpath.Key || segs[1].Kind != argpath.Key {
				return nil, "", "", errors.New("a state path must be state.<scope>.<counter>")
			}
			return nil, segs[0].Key, segs[1].Key, nil
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

func fromArgpath(in []argpath.Seg) []seg {
	out := make([]seg, len(in))
	for i, s := range in {
		switch s.Kind {
		case argpath.Key:
			out[i] = seg{kind: segKey, key: s.Key}
		case argpath.Index:
			out[i] = seg{kind: segIndex, index: s.Index}
		default:
			out[i] = seg{kind: segAll}
		}
	}
	return out
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
