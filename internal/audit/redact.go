package audit

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Redacted is what a redacted argument value is replaced with.
const Redacted = "[REDACTED]"

// Redactor replaces argument values at configured paths before arguments
// are written in full. It is immutable and safe for concurrent use.
type Redactor struct {
	paths []redactPath
}

type redactPath struct {
	text string
	segs []pathSeg
}

type pathSeg struct {
	key   string
	index int // -1: key; -2: [*]
}

const (
	segKey = -1
	segAll = -2
)

// NewRedactor compiles redact paths written in the policy's condition path
// syntax: args.card.number, args.items[*].token, args["api-key"], args.list[0].
func NewRedactor(paths []string) (*Redactor, error) {
	r := &Redactor{}
	for _, p := range paths {
		segs, err := parseArgsPath(p)
		if err != nil {
			return nil, fmt.Errorf("compile redact path %q: %w", p, err)
		}
		r.paths = append(r.paths, redactPath{text: p, segs: segs})
	}
	return r, nil
}

// Apply returns the canonical JSON of args with every value at a redact path
// replaced by "[REDACTED]", and the paths that matched something (each
// once, in configuration order), so a reader knows what was removed.
func (r *Redactor) Apply(args []byte) (out []byte, matched []string, err error) {
	if len(bytes.TrimSpace(args)) == 0 {
		args = []byte("{}")
	}
	v, err := decodeValue(args)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range r.paths {
		if replaceAt(v, p.segs) {
			matched = append(matched, p.text)
		}
	}
	var b bytes.Buffer
	if err := writeCanonical(&b, v); err != nil {
		return nil, nil, err
	}
	return b.Bytes(), matched, nil
}

// replaceAt replaces the values segs reaches inside v (an object or array).
func replaceAt(v any, segs []pathSeg) bool {
	if len(segs) == 0 {
		return false
	}
	s, last := segs[0], len(segs) == 1
	hit := false
	switch c := v.(type) {
	case map[string]any:
		switch s.index {
		case segKey:
			child, ok := c[s.key]
			if !ok {
				return false
			}
			if last {
				c[s.key] = Redacted
				return true
			}
			return replaceAt(child, segs[1:])
		case segAll:
			for k, child := range c {
				if last {
					c[k] = Redacted
					hit = true
				} else if replaceAt(child, segs[1:]) {
					hit = true
				}
			}
		}
	case []any:
		switch {
		case s.index == segAll:
			for i := range c {
				if last {
					c[i] = Redacted
					hit = true
				} else if replaceAt(c[i], segs[1:]) {
					hit = true
				}
			}
		case s.index >= 0 && s.index < len(c):
			if last {
				c[s.index] = Redacted
				return true
			}
			return replaceAt(c[s.index], segs[1:])
		}
	}
	return hit
}

// parseArgsPath parses the args part of the policy's path grammar:
//
//	path = "args" seg+
//	seg  = "." name | "[" digits "]" | "[*]" | "[" quoted "]"
func parseArgsPath(text string) ([]pathSeg, error) {
	s, ok := strings.CutPrefix(text, "args")
	if !ok {
		return nil, errors.New(`a redact path must start with "args"`)
	}
	var segs []pathSeg
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
			segs = append(segs, pathSeg{key: s[:n], index: segKey})
			s = s[n:]
		case '[':
			n, sg, err := parseBracket(s)
			if err != nil {
				return nil, err
			}
			segs = append(segs, sg)
			s = s[n:]
		default:
			return nil, fmt.Errorf("unexpected %q; use .name, [index], [*] or [\"name\"]", s[:1])
		}
	}
	if len(segs) == 0 {
		return nil, errors.New(`must name an argument, e.g. "args.password"`)
	}
	return segs, nil
}

func parseBracket(s string) (int, pathSeg, error) {
	if strings.HasPrefix(s, "[*]") {
		return 3, pathSeg{index: segAll}, nil
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
				return 0, pathSeg{}, errors.New(`only \" \' and \\ escapes are allowed in a quoted name`)
			case c == q:
				if i+1 >= len(s) || s[i+1] != ']' {
					return 0, pathSeg{}, errors.New("expected ']' after quoted name")
				}
				return i + 2, pathSeg{key: b.String(), index: segKey}, nil
			default:
				b.WriteByte(c)
			}
		}
		return 0, pathSeg{}, errors.New("unterminated quoted name")
	}
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return 0, pathSeg{}, errors.New("missing ']'")
	}
	n, err := strconv.Atoi(s[1:end])
	if err != nil || n < 0 || strings.TrimLeft(s[1:end], "0123456789") != "" {
		return 0, pathSeg{}, fmt.Errorf("invalid index [%s]", s[1:end])
	}
	return end + 1, pathSeg{index: n}, nil
}
