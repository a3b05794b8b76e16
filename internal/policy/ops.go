package policy

import (
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/cockroachdb/apd/v3"
)

type opKind uint8

const (
	opEq opKind = iota
	opNeq
	opIn
	opNotIn
	opLt
	opLte
	opGt
	opGte
	opRegex
	opNotRegex
	opContains
	opExists
	opStartsWith
	opPathWithin
	opMaxLen
)

var opNames = map[string]opKind{
	"eq": opEq, "neq": opNeq, "in": opIn, "not_in": opNotIn,
	"lt": opLt, "lte": opLte, "gt": opGt, "gte": opGte,
	"regex": opRegex, "not_regex": opNotRegex, "contains": opContains,
	"exists": opExists, "starts_with": opStartsWith,
	"path_within": opPathWithin, "max_len": opMaxLen,
}

var opList = []string{"eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte",
	"regex", "not_regex", "contains", "exists", "starts_with", "path_within", "max_len"}

// condition is a compiled argument condition.
type condition struct {
	path   *argPath
	op     opKind
	opName string
	value  any // expected value as compiled from YAML
	num    *apd.Decimal
	str    string
	re     *regexp.Regexp
	list   []any
	dirs   []string
	maxLen int
	want   bool       // exists
	node   *yaml.Node // the value, for positions in later checks
}

// holds evaluates the condition against the arguments. A path that cannot be
// followed makes every operator fail except exists: false. For a wildcard
// segment the condition must hold for every element; an empty array makes it
// hold (vacuous truth) except for exists: true, which needs something to exist.
func (c *condition) holds(args map[string]any) bool {
	return c.holdsAt(args, true, c.path.segs)
}

func (c *condition) holdsAt(v any, present bool, segs []seg) bool {
	for present && len(segs) > 0 {
		s := segs[0]
		switch s.kind {
		case segKey:
			m, ok := v.(map[string]any)
			if !ok {
				return c.missing()
			}
			v, present = m[s.key]
		case segIndex:
			a, ok := v.([]any)
			if !ok || s.index >= len(a) {
				return c.missing()
			}
			v = a[s.index]
		case segAll:
			a, ok := v.([]any)
			if !ok {
				return c.missing()
			}
			if len(a) == 0 {
				return !(c.op == opExists && c.want)
			}
			for _, e := range a {
				if !c.holdsAt(e, true, segs[1:]) {
					return false
				}
			}
			return true
		}
		segs = segs[1:]
	}
	if !present {
		return c.missing()
	}
	return c.test(v)
}

func (c *condition) missing() bool { return c.op == opExists && !c.want }

// test applies the operator to a present value (which may be JSON null).
func (c *condition) test(v any) bool {
	switch c.op {
	case opExists:
		return (v != nil) == c.want
	case opEq:
		return valuesEqual(v, c.value)
	case opNeq:
		return !valuesEqual(v, c.value)
	case opIn, opNotIn:
		found := false
		for _, e := range c.list {
			if valuesEqual(v, e) {
				found = true
				break
			}
		}
		return found == (c.op == opIn)
	case opLt, opLte, opGt, opGte:
		d, ok := asNumber(v)
		if !ok {
			return false
		}
		r := d.Cmp(c.num)
		switch c.op {
		case opLt:
			return r < 0
		case opLte:
			return r <= 0
		case opGt:
			return r > 0
		default:
			return r >= 0
		}
	case opRegex, opNotRegex:
		s, ok := v.(string)
		if !ok {
			return false
		}
		return c.re.MatchString(s) == (c.op == opRegex)
	case opContains:
		switch x := v.(type) {
		case string:
			es, ok := c.value.(string)
			return ok && strings.Contains(x, es)
		case []any:
			for _, e := range x {
				if valuesEqual(e, c.value) {
					return true
				}
			}
		}
		return false
	case opStartsWith:
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, c.str)
	case opPathWithin:
		s, ok := v.(string)
		return ok && pathWithin(s, c.dirs)
	case opMaxLen:
		switch x := v.(type) {
		case string:
			return utf8.RuneCountInString(x) <= c.maxLen
		case []any:
			return len(x) <= c.maxLen
		}
		return false
	}
	return false
}

// pathWithin reports whether p, an absolute slash-separated path, lies in
// (or is) one of dirs, after resolving "." and ".." lexically. It fails
// closed: relative paths, paths containing NUL or a backslash (a Windows
// separator the server might honour) are never within.
func pathWithin(p string, dirs []string) bool {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\\") {
		return false
	}
	clean := path.Clean(p)
	for _, d := range dirs {
		if d == "/" || clean == d || strings.HasPrefix(clean, d) && clean[len(d)] == '/' {
			return true
		}
	}
	return false
}
