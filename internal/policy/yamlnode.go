package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// loader accumulates problems while walking the YAML node tree, so that one
// Load reports every defect at once.
type loader struct {
	file   string
	probs  []Problem
	budget int // nodes left for alias expansion (defends against alias bombs)
}

func (l *loader) errf(n *yaml.Node, format string, a ...any) {
	p := Problem{File: l.file, Msg: fmt.Sprintf(format, a...)}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	l.probs = append(l.probs, p)
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 64; i++ {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	n = deref(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!timestamp", "!!binary":
			return "a string"
		case "!!int":
			return "an integer"
		case "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!null":
			return "null"
		}
	}
	return "an unsupported value"
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

type field struct{ key, val *yaml.Node }

// fields checks that n is a mapping with string keys drawn from allowed,
// reporting duplicate keys and unknown keys (with a suggestion). It returns
// the fields present; ok is false when n is not a mapping at all.
func (l *loader) fields(n *yaml.Node, what string, allowed []string) (map[string]field, bool) {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		l.errf(n, "%s must be a mapping, got %s", what, kindName(n))
		return nil, false
	}
	out := make(map[string]field, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := l.keyName(k)
		if !ok {
			continue
		}
		if prev, dup := out[name]; dup {
			l.errf(k, "duplicate key %q in %s (first at line %d)", name, what, prev.key.Line)
			continue
		}
		known := false
		for _, a := range allowed {
			if a == name {
				known = true
				break
			}
		}
		if !known {
			l.errf(k, "unknown key %q in %s%s", name, what, suggest(name, allowed))
			continue
		}
		out[name] = field{k, v}
	}
	return out, true
}

func (l *loader) keyName(k *yaml.Node) (string, bool) {
	k = deref(k)
	if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!null" {
		l.errf(k, "mapping keys must be strings, got %s", kindName(k))
		return "", false
	}
	if k.ShortTag() == "!!merge" || k.Value == "<<" && k.Style == 0 {
		l.errf(k, "YAML merge keys (<<) are not supported in policies")
		return "", false
	}
	return k.Value, true
}

// pairs returns the key/value pairs of a mapping in order, reporting
// duplicate keys.
func (l *loader) pairs(n *yaml.Node, what string) []field {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		l.errf(n, "%s must be a mapping, got %s", what, kindName(n))
		return nil
	}
	seen := map[string]*yaml.Node{}
	var out []field
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := l.keyName(k)
		if !ok {
			continue
		}
		if prev, dup := seen[name]; dup {
			l.errf(k, "duplicate key %q in %s (first at line %d)", name, what, prev.Line)
			continue
		}
		seen[name] = k
		out = append(out, field{k, v})
	}
	return out
}

// str reads a string-like scalar. Unquoted numbers are accepted as their
// text (Intercept decodes them into strings too); booleans, null, lists and
// mappings are not.
func (l *loader) str(n *yaml.Node, what string) (string, bool) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode {
		switch n.ShortTag() {
		case "!!str", "!!int", "!!float", "!!timestamp":
			return n.Value, true
		}
	}
	l.errf(n, "%s must be a string, got %s", what, kindName(n))
	return "", false
}

func (l *loader) enum(n *yaml.Node, what string, options []string) (string, bool) {
	s, ok := l.str(n, what)
	if !ok {
		return "", false
	}
	for _, o := range options {
		if s == o {
			return s, true
		}
	}
	l.errf(deref(n), "%s must be one of %s, got %q%s", what, strings.Join(options, ", "), s, suggest(s, options))
	return "", false
}

func (l *loader) boolean(n *yaml.Node, what string) (bool, bool) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		b, err := strconv.ParseBool(strings.ToLower(n.Value))
		if err == nil {
			return b, true
		}
	}
	l.errf(n, "%s must be true or false, got %s", what, kindName(n))
	return false, false
}

// count reads a whole number from 0 to most.
func (l *loader) count(n *yaml.Node, what string, most int) (int, bool) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		v, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 64)
		if err == nil && v >= 0 && v <= int64(most) {
			return int(v), true
		}
	}
	got := kindName(n)
	if n.Kind == yaml.ScalarNode {
		got = strconv.Quote(n.Value)
	}
	l.errf(n, "%s must be a whole number from 0 to %d, got %s", what, most, got)
	return 0, false
}

func (l *loader) list(n *yaml.Node, what string) ([]*yaml.Node, bool) {
	n = deref(n)
	if n.Kind != yaml.SequenceNode {
		l.errf(n, "%s must be a list, got %s", what, kindName(n))
		return nil, false
	}
	return n.Content, true
}

var windowNames = map[string]time.Duration{
	"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour,
}

var windowNameList = []string{"second", "minute", "hour", "day"}

// parseWindowText reads a window written as a name (second, minute, hour,
// day) or a Go duration ("90s", "1h30m"). Bare unit letters ("m", "h") are
// rejected: "m" could mean minute or month.
func parseWindowText(s string) (time.Duration, error) {
	if d, ok := windowNames[s]; ok {
		return d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("window must be second, minute, hour, day or a duration such as \"90s\", got %q%s", s, suggest(s, windowNameList))
	}
	if d < time.Second {
		return 0, fmt.Errorf("window %q is shorter than one second", s)
	}
	return d, nil
}

// duration reads a window or timeout: a name, a Go duration string, or an
// integer number of seconds.
func (l *loader) duration(n *yaml.Node, what string) (time.Duration, bool) {
	n = deref(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		secs, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 10, 64)
		if err != nil || secs <= 0 || secs > 10*366*24*3600 {
			l.errf(n, "%s must be a positive number of seconds (at most ten years), got %s", what, n.Value)
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	s, ok := l.str(n, what)
	if !ok {
		return 0, false
	}
	d, err := parseWindowText(s)
	if err != nil {
		l.errf(n, "%s: %v", what, err)
		return 0, false
	}
	return d, true
}

// value converts a YAML node into a comparison value (see value.go).
func (l *loader) value(n *yaml.Node, what string) (any, bool) {
	l.budget--
	if l.budget < 0 {
		if l.budget == -1 {
			l.errf(n, "%s is too large (alias expansion limit reached)", what)
		}
		return nil, false
	}
	n = deref(n)
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil, true
		case "!!bool":
			return l.boolean(n, what)
		case "!!int", "!!float":
			d, err := parseYAMLNumber(n.Value)
			if err != nil {
				l.errf(n, "%s: %q: %v", what, n.Value, err)
				return nil, false
			}
			return d, true
		case "!!str", "!!timestamp":
			return n.Value, true
		}
		l.errf(n, "%s: unsupported YAML type %s", what, n.ShortTag())
		return nil, false
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		ok := true
		for _, c := range n.Content {
			v, cok := l.value(c, what)
			ok = ok && cok
			out = append(out, v)
		}
		return out, ok
	case yaml.MappingNode:
		out := map[string]any{}
		ok := true
		for _, f := range l.pairs(n, what) {
			v, cok := l.value(f.val, what)
			ok = ok && cok
			out[deref(f.key).Value] = v
		}
		return out, ok
	}
	l.errf(n, "%s: unsupported value", what)
	return nil, false
}
