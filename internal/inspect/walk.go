package inspect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting so that a hostile document cannot exhaust the
// stack.
const maxDepth = 1000

var (
	errSyntax  = errors.New("invalid JSON")
	errTooDeep = errors.New("JSON nested too deeply")
)

// pseg is one step of the path to the value being scanned: a key (its raw
// text in the document) or an array index.
type pseg struct {
	key        bool
	esc        bool // the key has escapes
	start, end int  // the key's raw text in the document
	index      int
}

// keyText returns the decoded key, using scratch when it has escapes.
func (p pseg) keyText(doc []byte, scratch *[]byte) []byte {
	raw := doc[p.start:p.end]
	if !p.esc {
		return raw
	}
	*scratch = decode((*scratch)[:0], raw)
	return *scratch
}

// edit is a string (or number) of the document that Apply rewrites.
type edit struct {
	start, end int // the token, quotes included
	esc        bool
	number     bool
	fence      bool
	h0, h1     int // its redact hits in walker.ehits
}

// walker reads one document. Walkers are pooled: their buffers are kept
// from one document to the next, so a small call allocates nothing.
type walker struct {
	in      *Inspector
	doc     []byte
	segs    []pseg
	buf     []byte // the decoded string being scanned
	kbuf    []byte // the decoded key of the value being scanned
	pbuf    []byte // scratch for allow checks
	sc      scanner
	report  func(Finding)
	collect bool
	// visit, when set, is given every string value (not key) as decoded,
	// after the detectors saw it; it must not keep it. cur is the string
	// or number being scanned, for report to read an excerpt from.
	visit func(text []byte)
	cur   []byte

	findings []Finding
	edits    []edit
	ehits    []hit
}

var walkers = sync.Pool{New: func() any { return new(walker) }}

// keepScratch bounds the buffers a pooled walker keeps.
const keepScratch = 1 << 20

func getWalker(in *Inspector, doc []byte) *walker {
	w := walkers.Get().(*walker)
	w.in, w.doc = in, doc
	return w
}

func putWalker(w *walker) {
	w.in, w.doc, w.report, w.collect, w.visit, w.cur = nil, nil, nil, false, nil, nil
	w.segs, w.findings, w.edits, w.ehits = w.segs[:0], nil, w.edits[:0], w.ehits[:0]
	w.sc.hits, w.sc.t, w.sc.key = w.sc.hits[:0], nil, nil
	if cap(w.buf) > keepScratch || cap(w.sc.strip) > keepScratch {
		w.buf, w.sc.strip, w.sc.smap = nil, nil, nil
	}
	walkers.Put(w)
}

// validate checks that doc is one JSON value.
func validate(doc []byte) error {
	w := &walker{doc: doc}
	return w.parse(false)
}

func (w *walker) run() error { return w.parse(true) }

func (w *walker) parse(scan bool) error {
	i, err := w.value(skipWS(w.doc, 0), 0, scan)
	if err != nil {
		return err
	}
	if skipWS(w.doc, i) != len(w.doc) {
		return errSyntax
	}
	return nil
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isWS(b[i]) {
		i++
	}
	return i
}

// value reads the value at i and returns the index after it.
func (w *walker) value(i, depth int, scan bool) (int, error) {
	b := w.doc
	if i >= len(b) {
		return i, errSyntax
	}
	switch c := b[i]; {
	case c == '"':
		end, esc, err := scanString(b, i)
		if err != nil {
			return i, err
		}
		if scan {
			w.str(i, end, esc, false)
		}
		return end, nil
	case c == '{':
		return w.object(i, depth+1, scan)
	case c == '[':
		return w.array(i, depth+1, scan)
	case c == '-' || isDigit(c):
		end, err := scanNumber(b, i)
		if err != nil {
			return i, err
		}
		if scan && end-i >= 13 && end-i <= 19 && allOf(b[i:end], isDigit) {
			w.number(i, end)
		}
		return end, nil
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	}
	return i, errSyntax
}

func literal(b []byte, i int, lit string) (int, error) {
	if !hasPrefix(b[i:], lit) {
		return i, errSyntax
	}
	return i + len(lit), nil
}

func (w *walker) object(i, depth int, scan bool) (int, error) {
	if depth > maxDepth {
		return i, errTooDeep
	}
	b := w.doc
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	w.segs = append(w.segs, pseg{})
	top := len(w.segs) - 1
	for {
		if i >= len(b) || b[i] != '"' {
			return i, errSyntax
		}
		end, esc, err := scanString(b, i)
		if err != nil {
			return i, err
		}
		w.segs[top] = pseg{key: true, esc: esc, start: i + 1, end: end - 1}
		if scan {
			w.str(i, end, esc, true)
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return i, errSyntax
		}
		i, err = w.value(skipWS(b, i+1), depth, scan)
		if err != nil {
			return i, err
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			w.segs = w.segs[:top]
			return i + 1, nil
		}
		return i, errSyntax
	}
}

func (w *walker) array(i, depth int, scan bool) (int, error) {
	if depth > maxDepth {
		return i, errTooDeep
	}
	b := w.doc
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	w.segs = append(w.segs, pseg{})
	top := len(w.segs) - 1
	for n := 0; ; n++ {
		w.segs[top] = pseg{index: n}
		var err error
		i, err = w.value(i, depth, scan)
		if err != nil {
			return i, err
		}
		i = skipWS(b, i)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			w.segs = w.segs[:top]
			return i + 1, nil
		}
		return i, errSyntax
	}
}

// scanString reads the string at b[i] == '"' and returns the index after
// its closing quote and whether it has escapes. Invalid UTF-8 is let
// through (encoding/json accepts it too); control characters are not.
func scanString(b []byte, i int) (int, bool, error) {
	esc := false
	j := i + 1
	// Most strings of a tool call (keys, short values, the runs between
	// the escapes of JSON held in a string) end within a few bytes, where a
	// loop over a table beats two searches and a control check per run.
	for short := min(len(b), j+shortString); j < short; {
		c := b[j]
		if !strStop[c] {
			j++
			continue
		}
		switch {
		case c == '"':
			return j + 1, esc, nil
		case c == '\\':
			esc = true
			n, ok := escapeLen(b, j)
			if !ok {
				return j, esc, errSyntax
			}
			j += n
		default:
			return j, esc, errSyntax
		}
	}
	q := -1 // the next quote at or after j, found once and again only when passed
	for j < len(b) {
		// Find the next quote or backslash fast, then check the run before
		// it for control characters eight bytes at a time.
		if q < j {
			k := bytes.IndexByte(b[j:], '"')
			if k < 0 {
				return len(b), esc, errSyntax
			}
			q = j + k
		}
		seg := b[j:q]
		if k := bytes.IndexByte(seg, '\\'); k >= 0 {
			seg = seg[:k]
		}
		if hasControl(seg) {
			return j, esc, errSyntax
		}
		j += len(seg)
		c := b[j]
		switch {
		case c == '"':
			return j + 1, esc, nil
		case c == '\\':
			esc = true
			n, ok := escapeLen(b, j)
			if !ok {
				return j, esc, errSyntax
			}
			j += n
		case c < 0x20:
			return j, esc, errSyntax
		default:
			j++
		}
	}
	return j, esc, errSyntax
}

// shortString is how many bytes of a string scanString reads one at a
// time before it searches.
const shortString = 64

// strStop marks the bytes that stop a run of string contents: the quote,
// the backslash and the control characters.
var strStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// escapeLen returns the length of the valid escape at b[j] == '\\'.
func escapeLen(b []byte, j int) (int, bool) {
	if j+1 >= len(b) {
		return 0, false
	}
	switch b[j+1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2, true
	case 'u':
		_, ok := hex4(b, j+2)
		return 6, ok
	}
	return 0, false
}

// hasControl reports whether s holds a byte below 0x20.
func hasControl(s []byte) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	for len(s) >= 8 {
		x := binary.LittleEndian.Uint64(s)
		// The classic "has a byte less than n" test, exact for n <= 128.
		if (x-lo*0x20)&^x&hi != 0 {
			return true
		}
		s = s[8:]
	}
	for _, c := range s {
		if c < 0x20 {
			return true
		}
	}
	return false
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case isDigit(c):
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

// unescape decodes the escape at raw[i] == '\\' and returns its text (in
// tmp) and the index after it. A lone surrogate becomes U+FFFD, as
// encoding/json decodes it.
func unescape(raw []byte, i int, tmp *[4]byte) ([]byte, int) {
	switch c := raw[i+1]; c {
	case 'b':
		tmp[0] = '\b'
	case 'f':
		tmp[0] = '\f'
	case 'n':
		tmp[0] = '\n'
	case 'r':
		tmp[0] = '\r'
	case 't':
		tmp[0] = '\t'
	case 'u':
		r, _ := hex4(raw, i+2)
		next := i + 6
		if utf16.IsSurrogate(r) {
			r2 := rune(-1)
			if next+6 <= len(raw) && raw[next] == '\\' && raw[next+1] == 'u' {
				r2, _ = hex4(raw, next+2)
			}
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				r = d
				next += 6
			} else {
				r = utf8.RuneError
			}
		}
		n := utf8.EncodeRune(tmp[:], r)
		return tmp[:n], next
	default:
		tmp[0] = c
	}
	return tmp[:1], i + 2
}

// decode appends the decoded text of the raw string contents to dst. The
// text is never longer than raw, so it is written in place after dst has
// grown once; short runs between escapes are copied a byte at a time and
// one-character escapes decoded inline, which is what JSON held in a
// string (an escaped quote every few bytes) is made of.
func decode(dst, raw []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(raw))[:n+len(raw)]
	out := dst[n:]
	o := 0
	var tmp [4]byte
	for i := 0; i < len(raw); {
		k := nextBackslash(raw, i)
		if k < 0 {
			k = len(raw)
		}
		if k-i <= 16 {
			for ; i < k; i++ {
				out[o] = raw[i]
				o++
			}
		} else {
			o += copy(out[o:], raw[i:k])
			i = k
		}
		if i >= len(raw) {
			break
		}
		if c := simpleEscape[raw[i+1]]; c != 0 {
			out[o] = c
			o++
			i += 2
			continue
		}
		var u []byte
		u, i = unescape(raw, i, &tmp)
		o += copy(out[o:], u)
	}
	return dst[:n+o]
}

// simpleEscape maps the letter of a one-character escape to its byte
// (0 for \u and for what is not an escape).
var simpleEscape = func() (t [256]byte) {
	t['"'], t['\\'], t['/'] = '"', '\\', '/'
	t['b'], t['f'], t['n'], t['r'], t['t'] = '\b', '\f', '\n', '\r', '\t'
	return t
}()

// nextBackslash returns the index of the first '\\' in raw from i, or -1;
// the few bytes between the escapes of JSON held in a string are looked at
// one at a time, before a search.
func nextBackslash(raw []byte, i int) int {
	for short := min(len(raw), i+16); i < short; i++ {
		if raw[i] == '\\' {
			return i
		}
	}
	return indexByteFrom(raw, i, '\\')
}

func indexByteFrom(b []byte, i int, c byte) int {
	if k := bytes.IndexByte(b[i:], c); k >= 0 {
		return i + k
	}
	return -1
}

// str scans the string token doc[start:end].
func (w *walker) str(start, end int, esc, isKey bool) {
	raw := w.doc[start+1 : end-1]
	text := raw
	if esc {
		w.buf = decode(w.buf[:0], raw)
		text = w.buf
	}
	var key []byte
	if !isKey && len(w.segs) > 0 && w.segs[len(w.segs)-1].key {
		key = w.segs[len(w.segs)-1].keyText(w.doc, &w.kbuf)
	}
	w.cur = text
	w.sc.hits = w.sc.hits[:0]
	w.sc.scan(text, key)
	if len(w.sc.hits) > 0 {
		w.found(start, end, esc, isKey, false)
	}
	if w.visit != nil && !isKey {
		w.visit(text)
	}
}

// number checks an integer token of 13 to 19 digits as a card number.
func (w *walker) number(start, end int) {
	w.sc.hits = w.sc.hits[:0]
	w.sc.t = w.doc[start:end]
	w.cur = w.sc.t
	d := w.sc.t
	if luhn(d) && issuer(d) {
		w.sc.add(dCardNumber, 0, len(d))
		w.found(start, end, false, false, true)
	}
}

// found reports and records the hits of the token doc[start:end].
func (w *walker) found(start, end int, esc, isKey, number bool) {
	in := w.in
	hits := sortHits(w.sc.hits)
	live := hits[:0]
	for _, h := range hits {
		if in.actions[h.det] != Off {
			live = append(live, h)
		}
	}
	if len(live) == 0 || (len(in.allow) > 0 && in.allowed(w.segs, w.doc, &w.pbuf)) {
		return
	}
	path := w.path()
	e := edit{start: start, end: end, esc: esc, number: number, h0: len(w.ehits)}
	for _, h := range live {
		a := in.actions[h.det]
		f := Finding{Detector: detectors[h.det].name, Class: detectors[h.det].class, Action: a,
			Path: path, Key: isKey, Start: h.start, End: h.end}
		if w.report != nil {
			w.report(f)
		}
		if !w.collect {
			continue
		}
		w.findings = append(w.findings, f)
		switch a {
		case Redact:
			w.ehits = append(w.ehits, h)
		case Fence:
			e.fence = true
		}
	}
	e.h1 = len(w.ehits)
	if w.collect && (e.fence || e.h1 > e.h0) {
		w.edits = append(w.edits, e)
	}
}

// path renders the current path: content[0].text, ["a b"].c, [2].
func (w *walker) path() string {
	var out []byte
	for i, s := range w.segs {
		if !s.key {
			out = append(out, '[')
			out = strconv.AppendInt(out, int64(s.index), 10)
			out = append(out, ']')
			continue
		}
		k := s.keyText(w.doc, &w.pbuf)
		if plainName(k) {
			if i > 0 {
				out = append(out, '.')
			}
			out = append(out, k...)
			continue
		}
		out = append(out, '[', '"')
		for _, c := range k {
			if c == '"' || c == '\\' {
				out = append(out, '\\')
			}
			out = append(out, c)
		}
		out = append(out, '"', ']')
	}
	return string(out)
}

// plainName reports whether k can be written .k in the path grammar.
func plainName(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		switch c {
		case '.', '[', ']', '"', '\'', ' ', '\t', '\r', '\n':
			return false
		}
	}
	return true
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
		for j < len(b) && isDigit(b[j]) {
			j++
		}
	} else {
		return i, errSyntax
	}
	if j < len(b) && b[j] == '.' {
		j++
		d := j
		for j < len(b) && isDigit(b[j]) {
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
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if j == d {
			return i, errSyntax
		}
	}
	return j, nil
}
