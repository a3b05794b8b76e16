package audit

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/argpath"
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
			// Every key equal to the path's under Unicode case folding:
			// policy conditions read {"Card": …} as args.card, because
			// servers that bind arguments case-insensitively do, so
			// redaction must not miss it either.
			for k, child := range c {
				if k != s.key && !strings.EqualFold(k, s.key) {
					continue
				}
				if last {
					c[k] = Redacted
					hit = true
				} else if replaceAt(child, segs[1:]) {
					hit = true
				}
			}
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

// parseArgsPath parses a redact path with the one argument-path grammar
// policy conditions use (internal/argpath).
func parseArgsPath(text string) ([]pathSeg, error) {
	p, err := argpath.Parse(text)
	if err != nil {
		return nil, err
	}
	segs := make([]pathSeg, len(p.Segs))
	for i, s := range p.Segs {
		switch s.Kind {
		case argpath.Key:
			segs[i] = pathSeg{key: s.Key, index: segKey}
		case argpath.Index:
			segs[i] = pathSeg{index: s.Index}
		default:
			segs[i] = pathSeg{index: segAll}
		}
	}
	return segs, nil
}
