package policy

import (
	"encoding/json"
	"path"
	"regexp"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/fold"
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
	num    *decimal.Decimal
	str    string
	re     *regexp.Regexp
	list   []any
	dirs   []string
	maxLen int
	want   bool       // exists
	node   *yaml.Node // the value, for positions in later checks
}

// outcome is the result of evaluating a condition.
type outcome uint8

const (
	no      outcome = iota // the condition does not hold
	yes                    // the condition holds
	unknown                // the argument is missing or of a type the operator cannot judge
)

// mode says which readings of a number (see numread.go) a condition is
// judged under.
type mode uint8

const (
	// modeAll: an evaluate rule's condition holds only if it holds under
	// every reading.
	modeAll mode = iota
	// modeAny: a deny or approval rule's condition fires if it holds (or
	// cannot be judged) under any reading.
	modeAny
	// modeExact: the exact reading only, to explain which reading decided.
	modeExact
)

// holds reports whether the condition definitely holds, under every
// reading: what an evaluate rule needs (missing or mistyped arguments fail
// closed: deny).
func (c *condition) holds(args map[string]any) bool { return c.eval(args, modeAll, false) == yes }

// fires reports whether a deny or approval rule's condition should trigger:
// it holds under some reading, or it cannot be judged (fail closed: deny /
// ask).
func (c *condition) fires(args map[string]any) bool { return c.eval(args, modeAny, true) != no }

// eval evaluates the condition against the arguments. A path that cannot be
// followed is unknown for every operator except exists. A wildcard segment
// is read the way that is strictest for the rule: for an evaluate rule
// (some false) the condition must hold for every element, and an empty
// array holds (vacuous truth) except for exists: true, which needs
// something to exist; for a deny or approval rule (some true) it fires
// when it fires for any element, so that one bad element among good ones
// is caught, and an empty array has no element to fire for.
func (c *condition) eval(args map[string]any, m mode, some bool) outcome {
	return c.evalAt(args, true, c.path.segs, m, some)
}

func (c *condition) evalAt(v any, present bool, segs []seg, m mode, some bool) outcome {
	for present && len(segs) > 0 {
		s := segs[0]
		switch s.kind {
		case segKey:
			m, ok := v.(map[string]any)
			if !ok {
				return c.missing()
			}
			v, present = member(m, s.key)
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
			if some {
				res := no
				for _, e := range a {
					switch c.evalAt(e, true, segs[1:], m, some) {
					case yes:
						return yes
					case unknown:
						res = unknown
					}
				}
				return res
			}
			if len(a) == 0 {
				if c.op == opExists && c.want {
					return no
				}
				return yes
			}
			res := yes
			for _, e := range a {
				switch c.evalAt(e, true, segs[1:], m, some) {
				case no:
					return no
				case unknown:
					res = unknown
				}
			}
			return res
		}
		segs = segs[1:]
	}
	if !present {
		return c.missing()
	}
	return c.test(v, m)
}

func (c *condition) missing() outcome {
	if c.op == opExists {
		return boolOutcome(!c.want)
	}
	return unknown
}

func boolOutcome(b bool) outcome {
	if b {
		return yes
	}
	return no
}

// test applies the operator to a present value (which may be JSON null),
// and, for a string that spells an array or object as JSON text, to that
// value too (see jsonread.go).
func (c *condition) test(v any, m mode) outcome {
	o := c.testValue(v, m)
	if s, ok := v.(string); ok && m != modeExact && c.op != opExists {
		return c.withJSONReading(s, o, m)
	}
	return o
}

// testValue applies the operator to the value itself.
func (c *condition) testValue(v any, m mode) outcome {
	must := m == modeAll // eq must hold under every reading
	switch c.op {
	case opExists:
		return boolOutcome((v != nil) == c.want)
	case opEq:
		return boolOutcome(readEqual(v, c.value, m, must))
	case opNeq:
		return boolOutcome(!readEqual(v, c.value, m, !must))
	case opIn, opNotIn:
		if c.op == opNotIn {
			must = !must
		}
		found := false
		for _, e := range c.list {
			if readEqual(v, e, m, must) {
				found = true
				break
			}
		}
		return boolOutcome(found == (c.op == opIn))
	case opLt, opLte, opGt, opGte:
		if _, ok := v.(json.Number); !ok {
			return unknown // strings (even numeric ones) are never compared
		}
		var r numReadings
		readNumber(v, &r)
		n := r.count()
		if m == modeExact {
			n = 1
		}
		res := boolOutcome(m == modeAll) // modeAll needs every reading, the others one
		for i := range n {
			nv, _ := r.at(i)
			switch o := c.compare(nv); {
			case o == unknown:
				res = unknown
			case m == modeAll && o == no, m != modeAll && o == yes:
				return o
			}
		}
		return res
	case opRegex, opNotRegex:
		s, ok := v.(string)
		if !ok {
			return unknown
		}
		return boolOutcome(c.re.MatchString(s) == (c.op == opRegex))
	case opContains:
		switch x := v.(type) {
		case string:
			es, ok := c.value.(string)
			return boolOutcome(ok && (strings.Contains(x, es) || m == modeAny && fold.Contains(x, es)))
		case []any:
			for _, e := range x {
				if readEqual(e, c.value, m, must) {
					return yes
				}
			}
			return no
		}
		return unknown
	case opStartsWith:
		s, ok := v.(string)
		if !ok {
			return unknown
		}
		// A rule that fires on the prefix fires on it as a lenient server
		// reads the text too (see leafEqual).
		return boolOutcome(strings.HasPrefix(s, c.str) || m == modeAny && fold.HasPrefix(s, c.str))
	case opPathWithin:
		s, ok := v.(string)
		if !ok {
			return unknown
		}
		var buf [maxPathReadings]string
		readings, judged := pathReadings(s, buf[:0])
		if !judged {
			return unknown
		}
		switch m {
		case modeAll:
			// Within under every reading: as written, and as a server
			// that decodes percent-escapes reads it.
			for _, r := range readings {
				if !pathWithin(r, c.dirs) {
					return no
				}
			}
			return yes
		case modeAny:
			// Within under some reading. On a case-insensitive file system
			// (macOS and Windows by default) /ETC/passwd is /etc/passwd: a
			// rule that fires inside a directory fires there too.
			for _, r := range readings {
				if pathWithin(r, c.dirs) || pathWithinFolded(r, c.dirs) {
					return yes
				}
			}
			return no
		}
		return boolOutcome(pathWithin(s, c.dirs))
	case opMaxLen:
		switch x := v.(type) {
		case string:
			return boolOutcome(utf8.RuneCountInString(x) <= c.maxLen)
		case []any:
			return boolOutcome(len(x) <= c.maxLen)
		}
		return unknown
	}
	return unknown
}

// compare applies lt, lte, gt or gte to one reading.
func (c *condition) compare(v *numValue) outcome {
	r, ok := cmpNum(v, c.num)
	if !ok {
		return unknown
	}
	switch c.op {
	case opLt:
		return boolOutcome(r < 0)
	case opLte:
		return boolOutcome(r <= 0)
	case opGt:
		return boolOutcome(r > 0)
	default:
		return boolOutcome(r >= 0)
	}
}

// readEqual is eq under the readings of m: with must, a (from the
// arguments) equals b (from the policy) under every reading of the numbers
// and numeric strings in a and b; without, under some reading, booleans'
// readings (boolread.go) included. A reading
// that cannot be judged counts against must and for may (fail closed).
func readEqual(a, b any, m mode, must bool) bool {
	if m == modeExact {
		return valuesEqual(a, b)
	}
	if !must {
		if eq, ok := boolEqual(a, b); ok {
			return eq
		}
	}
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !readEqual(x[i], y[i], m, must) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !readEqual(xv, yv, m, must) {
				return false
			}
		}
		return true
	case json.Number, string:
		return leafEqual(a, b, must)
	}
	return valuesEqual(a, b)
}

// leafEqual is readEqual for a number or string a.
func leafEqual(a, b any, must bool) bool {
	as, aText := a.(string)
	bs, bText := b.(string)
	if aText && bText && as == bs {
		return true // the same text reads the same every way
	}
	if aText && bText && !must && fold.Equal(as, bs) {
		// A server that ignores case, surrounding spaces, control
		// characters or compatibility forms (a repository or an e-mail
		// address looked up without regard to case) reads them as one:
		// under some reading, equal.
		return true
	}
	if must && (aText || bText) {
		return false // read as text, they differ
	}
	var ra, rb numReadings
	if !readNumber(a, &ra) || !readNumber(b, &rb) {
		return valuesEqual(a, b)
	}
	for i := range ra.count() {
		x, _ := ra.at(i)
		for j := range rb.count() {
			y, _ := rb.at(j)
			eq, ok := numEqual(x, y)
			if must && (!ok || !eq) {
				return false
			}
			if !must && (!ok || eq) {
				return true
			}
		}
	}
	return must
}

// encodedSeparator reports whether p holds a percent-escape of a dot, a
// slash, a backslash or a NUL (%2e, %2F, %5c, %00, either case): a server
// that decodes the path, as one given a file: URI or a URL path does, reads
// /srv/%2e%2e/etc as /srv/../etc, which is not where the path points as
// written.
func encodedSeparator(p string) bool {
	for i := strings.IndexByte(p, '%'); i >= 0 && i+2 < len(p); {
		switch strings.ToLower(p[i+1 : i+3]) {
		case "2e", "2f", "5c", "00":
			return true
		}
		j := strings.IndexByte(p[i+1:], '%')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// maxPathReadings bounds the readings of a path pathReadings gives: as
// written and up to three percent-decodings (a path escaped three times
// over is read three ways; what is left after them is judged as written).
const maxPathReadings = 4

// pathReadings appends to dst the readings of an argument path: as written,
// then as a server that decodes percent-escapes reads it (a file: URI's
// path, a URL path), decoded again while it still changes (a server that
// decodes twice), so /%65tc/passwd is also read as /etc/passwd. A file:
// URI (file:///etc/passwd, file://localhost/etc/passwd, file:/etc/passwd,
// the scheme in any case) is read as its path, and, when it has a query or
// a fragment, also as its path without them (a URI parser's reading; a
// server that strips the scheme opens the rest). judged is false when a
// reading cannot be judged: it is relative, holds a NUL or a backslash, or
// a percent-escaped separator (encodedSeparator), or it is a file: URI of
// another host. A path without '%' is its only reading, and costs no
// allocation.
func pathReadings(p string, dst []string) (readings []string, judged bool) {
	if path, ok, isURI := fileURIPath(p); isURI {
		if !ok {
			return dst, false
		}
		if i := strings.IndexAny(path, "?#"); i >= 0 {
			if dst, judged = decodedReadings(path, dst, maxPathReadings/2); !judged {
				return dst, false
			}
			path = path[:i]
		}
		p = path
	}
	return decodedReadings(p, dst, maxPathReadings)
}

// fileURIPath returns the path of p when p is a file: URI: ok is false for
// one that names a host other than localhost, whose path is another
// machine's.
func fileURIPath(p string) (path string, ok, isURI bool) {
	if len(p) < 5 || !strings.EqualFold(p[:5], "file:") {
		return "", false, false
	}
	rest := p[5:]
	if !strings.HasPrefix(rest, "//") {
		return rest, true, true
	}
	rest = rest[2:]
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", false, true
	}
	if host := rest[:i]; host != "" && !strings.EqualFold(host, "localhost") {
		return "", false, true
	}
	return rest[i:], true, true
}

// decodedReadings appends to dst, up to n of them, the readings of p as
// written and percent-decoded (see pathReadings).
func decodedReadings(p string, dst []string, n int) (readings []string, judged bool) {
	for limit := len(dst) + n; len(dst) < limit; {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\\") || encodedSeparator(p) {
			return dst, false
		}
		dst = append(dst, p)
		dec, changed := percentDecode(p)
		if !changed {
			break
		}
		p = dec
	}
	return dst, true
}

// percentDecode decodes each well-formed %XX escape of p; a '%' not
// followed by two hex digits stays as it is.
func percentDecode(p string) (string, bool) {
	i := strings.IndexByte(p, '%')
	if i < 0 {
		return p, false
	}
	var b []byte
	changed := false
	for ; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			if b == nil {
				b = append(make([]byte, 0, len(p)), p[:i]...)
			}
			b = append(b, unhex(p[i+1])<<4|unhex(p[i+2]))
			i += 2
			changed = true
			continue
		}
		if b != nil {
			b = append(b, p[i])
		}
	}
	if !changed {
		return p, false
	}
	return string(b), true
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// pathWithinFolded is pathWithin without regard to case.
func pathWithinFolded(p string, dirs []string) bool {
	lp := strings.ToLower(p)
	for _, d := range dirs {
		if pathWithin(lp, []string{strings.ToLower(d)}) {
			return true
		}
	}
	return false
}

// pathWithin reports whether p, an absolute slash-separated path, lies in
// (or is) one of dirs, after resolving "." and ".." lexically. It fails
// closed: relative paths, paths containing NUL or a backslash (a Windows
// separator the server might honour) or a percent-escaped separator
// (encodedSeparator) are never within.
func pathWithin(p string, dirs []string) bool {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\\") || encodedSeparator(p) {
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
