package canonjson

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Encoder writes the canonical form of a JSON value (see Canonical)
// in one pass over the input, without decoding it into a tree: the writer
// hashes every call's arguments, and going through encoding/json's
// reflection cost most of a line's time. Its buffers are kept from one value
// to the next; it is not safe for concurrent use.
//
// It takes on only input it can handle exactly like canonicalTree, and
// reports anything else (invalid JSON, invalid UTF-8, a lone surrogate,
// nesting deeper than maxScanDepth, an exponent out of range) by returning
// false, so that the caller falls back to canonicalTree for the result or
// the error. FuzzCanonical holds the two to the same output.
type Encoder struct {
	in  []byte
	pos int
	out []byte

	depth   int
	members []member // members of the objects being written, innermost last
	keys    []byte   // decoded text of keys that had escapes
	str     []byte   // decoded text of the current string value
	num     []byte   // the digits of the current number
	plain   bool     // the string just scanned can be copied as it is
	tmp     []byte   // an object's members while they are put in order
}

// member is one member of an object, written to out as `"key":value`
// (preceded by a comma unless it is the first).
type member struct {
	prefix           uint64 // the key's first 8 bytes, big-endian, zero-padded
	keyStart, keyEnd int    // the key's decoded text, in in or (inKeys) in keys
	inKeys           bool   // the key had escapes
	start, end       int    // `"key":value` in out
}

// maxScanDepth is how deep the scanner nests before it leaves the input to
// canonicalTree (encoding/json refuses more than 10000 levels).
const maxScanDepth = 1000

// keepScratch bounds the scratch space a Encoder keeps between
// values: one huge argument object should not pin its size for good.
const keepScratch = 1 << 20

// AppendHash appends the hex SHA-256 of raw's canonical form to dst.
func (c *Encoder) AppendHash(dst, raw []byte) ([]byte, error) {
	defer c.release()
	if c.canonical(raw) {
		sum := sha256.Sum256(c.out)
		return hex.AppendEncode(dst, sum[:]), nil
	}
	b, err := canonicalTree(raw)
	if err != nil {
		return dst, err
	}
	sum := sha256.Sum256(b)
	return hex.AppendEncode(dst, sum[:]), nil
}

// AppendCanonical appends raw's canonical form (see Canonical) to dst.
// The Encoder's scratch space is kept for the next value, so a caller that
// canonicalises many values allocates little more than dst.
func (c *Encoder) AppendCanonical(dst, raw []byte) ([]byte, error) {
	defer c.release()
	if c.canonical(raw) {
		return append(dst, c.out...), nil
	}
	b, err := canonicalTree(raw)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// release lets go of the input, and of scratch space grown past
// keepScratch.
func (c *Encoder) release() {
	c.in = nil
	if cap(c.out)+cap(c.tmp)+cap(c.str)+cap(c.keys)+cap(c.num) > keepScratch || cap(c.members) > keepScratch/64 {
		*c = Encoder{}
	}
}

// canonical writes raw's canonical form to c.out and reports whether it
// could; when it returns false, canonicalTree decides.
func (c *Encoder) canonical(raw []byte) bool {
	c.in, c.pos, c.depth = raw, 0, 0
	c.out, c.members, c.keys = c.out[:0], c.members[:0], c.keys[:0]
	c.skipSpace()
	if c.pos == len(c.in) {
		c.out = append(c.out, "{}"...)
		return true
	}
	if !c.value() {
		return false
	}
	c.skipSpace()
	return c.pos == len(c.in)
}

func (c *Encoder) skipSpace() {
	for c.pos < len(c.in) {
		switch c.in[c.pos] {
		case ' ', '\t', '\n', '\r':
			c.pos++
		default:
			return
		}
	}
}

func (c *Encoder) value() bool {
	c.skipSpace()
	if c.pos >= len(c.in) {
		return false
	}
	switch b := c.in[c.pos]; {
	case b == '{':
		return c.object()
	case b == '[':
		return c.array()
	case b == '"':
		c.str = c.str[:0]
		start, end, esc, ok := c.scanString(&c.str)
		if !ok {
			return false
		}
		c.out = c.appendString(c.str, start, end, esc)
		return true
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || '0' <= b && b <= '9':
		return c.number()
	}
	return false
}

func (c *Encoder) literal(lit string) bool {
	if !bytes.HasPrefix(c.in[c.pos:], []byte(lit)) {
		return false
	}
	c.pos += len(lit)
	c.out = append(c.out, lit...)
	return true
}

func (c *Encoder) array() bool {
	c.pos++ // '['
	if c.depth++; c.depth > maxScanDepth {
		return false
	}
	c.out = append(c.out, '[')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == ']' {
		c.pos++
	} else {
		for {
			if !c.value() {
				return false
			}
			c.skipSpace()
			if c.pos >= len(c.in) {
				return false
			}
			b := c.in[c.pos]
			c.pos++
			if b == ']' {
				break
			}
			if b != ',' {
				return false
			}
			c.out = append(c.out, ',')
		}
	}
	c.out = append(c.out, ']')
	c.depth--
	return true
}

// object writes the members as they come, and puts them in key order
// afterwards only when they did not come in that order.
func (c *Encoder) object() bool {
	c.pos++ // '{'
	if c.depth++; c.depth > maxScanDepth {
		return false
	}
	open := len(c.out)
	base, keysBase := len(c.members), len(c.keys)
	c.out = append(c.out, '{')
	c.skipSpace()
	if c.pos < len(c.in) && c.in[c.pos] == '}' {
		c.pos++
	} else {
		for {
			c.skipSpace()
			if c.pos >= len(c.in) || c.in[c.pos] != '"' {
				return false
			}
			if len(c.members) > base {
				c.out = append(c.out, ',')
			}
			m := member{start: len(c.out)}
			var ok bool
			m.keyStart, m.keyEnd, m.inKeys, ok = c.scanString(&c.keys)
			if !ok {
				return false
			}
			m.prefix = keyPrefix(c.key(&m))
			c.out = c.appendString(c.keys, m.keyStart, m.keyEnd, m.inKeys)
			c.skipSpace()
			if c.pos >= len(c.in) || c.in[c.pos] != ':' {
				return false
			}
			c.pos++
			c.out = append(c.out, ':')
			if !c.value() {
				return false
			}
			m.end = len(c.out)
			c.members = append(c.members, m)
			c.skipSpace()
			if c.pos >= len(c.in) {
				return false
			}
			b := c.in[c.pos]
			c.pos++
			if b == '}' {
				break
			}
			if b != ',' {
				return false
			}
		}
		c.order(open, c.members[base:])
	}
	c.out = append(c.out, '}')
	c.members, c.keys = c.members[:base], c.keys[:keysBase]
	c.depth--
	return true
}

// order rewrites the members of the object that opens at out[open] in key
// order, keeping only the last of members with the same key (as decoding
// into a map does).
func (c *Encoder) order(open int, ms []member) {
	sorted := true
	for i := 1; i < len(ms); i++ {
		if c.compare(&ms[i-1], &ms[i]) >= 0 {
			sorted = false
			break
		}
	}
	if sorted {
		return
	}
	if len(ms) <= 16 {
		// Insertion sort (stable): most objects are small, and this is
		// much cheaper than the generic sort's calls.
		for i := 1; i < len(ms); i++ {
			for j := i; j > 0 && c.compare(&ms[j], &ms[j-1]) < 0; j-- {
				ms[j], ms[j-1] = ms[j-1], ms[j]
			}
		}
	} else {
		slices.SortStableFunc(ms, func(a, b member) int { return c.compare(&a, &b) })
	}
	c.tmp = append(c.tmp[:0], c.out[open:]...)
	c.out = append(c.out[:open], '{')
	first := true
	for i := range ms {
		m := &ms[i]
		if i+1 < len(ms) && c.compare(m, &ms[i+1]) == 0 {
			continue // a later member with the same key wins
		}
		if !first {
			c.out = append(c.out, ',')
		}
		first = false
		c.out = append(c.out, c.tmp[m.start-open:m.end-open]...)
	}
}

// compare orders members by the bytes of their keys.
func (c *Encoder) compare(a, b *member) int {
	if a.prefix != b.prefix {
		if a.prefix < b.prefix {
			return -1
		}
		return 1
	}
	return bytes.Compare(c.key(a), c.key(b))
}

// keyPrefix packs a key's first eight bytes so that most keys compare as
// integers: packed keys compare as their bytes do, except that a key with
// fewer than eight bytes and that key with NUL bytes added pack the same
// (compare falls back to the bytes then).
func keyPrefix(key []byte) uint64 {
	var b [8]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:])
}

func (c *Encoder) key(m *member) []byte {
	if m.inKeys {
		return c.keys[m.keyStart:m.keyEnd]
	}
	return c.in[m.keyStart:m.keyEnd]
}

// appendString writes the string scanString found: a string without
// escapes that needs none on output (c.plain) is copied as it is.
func (c *Encoder) appendString(buf []byte, start, end int, esc bool) []byte {
	if esc {
		return AppendString(c.out, buf[start:end], false)
	}
	if !c.plain {
		return AppendString(c.out, c.in[start:end], false)
	}
	out := append(c.out, '"')
	out = append(out, c.in[start:end]...)
	return append(out, '"')
}

// scanString reads the string that starts at c.pos. A string without
// escapes is c.in[start:end]; one with escapes is decoded and appended to
// *buf, and is (*buf)[start:end] (esc is true). It returns false for what
// encoding/json would reject or change: a control character, invalid
// UTF-8, a bad escape or a lone surrogate. It sets c.plain when the string
// has no escapes and nothing to escape on output.
func (c *Encoder) scanString(buf *[]byte) (start, end int, esc, ok bool) {
	i := c.pos + 1
	start = i
	c.plain = true
	for {
		// Printable ASCII but '"' and '\\' is most of any string.
		for i < len(c.in) && c.in[i] < utf8.RuneSelf && safeBytes[c.in[i]] {
			i++
		}
		if i >= len(c.in) {
			return 0, 0, false, false
		}
		b := c.in[i]
		switch {
		case b == '"':
			c.pos = i + 1
			return start, i, false, true
		case b == '\\':
			c.plain = false
			return c.scanEscaped(buf, start, i)
		case b < utf8.RuneSelf: // a control character
			return 0, 0, false, false
		default:
			r, size := utf8.DecodeRune(c.in[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false, false
			}
			if r == '\u2028' || r == '\u2029' {
				c.plain = false
			}
			i += size
		}
	}
}

// scanEscaped goes on with scanString from the first backslash at i,
// decoding into *buf.
func (c *Encoder) scanEscaped(buf *[]byte, from, i int) (start, end int, esc, ok bool) {
	b := *buf
	start = len(b)
	b = append(b, c.in[from:i]...)
	for {
		if i >= len(c.in) {
			return 0, 0, false, false
		}
		ch := c.in[i]
		switch {
		case ch == '"':
			c.pos = i + 1
			*buf = b
			return start, len(b), true, true
		case ch == '\\':
			if i+1 >= len(c.in) {
				return 0, 0, false, false
			}
			i++
			switch e := c.in[i]; e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := hex4(c.in[i+1:])
				if !ok {
					return 0, 0, false, false
				}
				i += 4
				if 0xD800 <= r && r < 0xE000 {
					// A surrogate pair; encoding/json replaces a lone half
					// with U+FFFD, which canonicalTree does for us.
					lo, ok := rune(0), false
					if r < 0xDC00 && i+6 < len(c.in) && c.in[i+1] == '\\' && c.in[i+2] == 'u' {
						lo, ok = hex4(c.in[i+3:])
					}
					if !ok || lo < 0xDC00 || lo >= 0xE000 {
						return 0, 0, false, false
					}
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
					i += 6
				}
				b = utf8.AppendRune(b, r)
			default:
				return 0, 0, false, false
			}
			i++
		case ch < 0x20:
			return 0, 0, false, false
		case ch < utf8.RuneSelf:
			b = append(b, ch)
			i++
		default:
			r, size := utf8.DecodeRune(c.in[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, 0, false, false
			}
			b = append(b, c.in[i:i+size]...)
			i += size
		}
	}
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, ch := range b[:4] {
		switch {
		case '0' <= ch && ch <= '9':
			ch -= '0'
		case 'a' <= ch && ch <= 'f':
			ch -= 'a' - 10
		case 'A' <= ch && ch <= 'F':
			ch -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(ch)
	}
	return r, true
}

// number reads a JSON number and writes it in canonical form, exactly as
// canonicalNumber does.
func (c *Encoder) number() bool {
	in, i := c.in, c.pos
	neg := in[i] == '-'
	if neg {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(in) && '0' <= in[i] && in[i] <= '9' {
			i++
			n++
		}
		return n
	}
	c.num = c.num[:0]
	intStart := i
	switch {
	case i < len(in) && in[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	c.num = append(c.num, in[intStart:i]...)
	var fracLen int64
	if i < len(in) && in[i] == '.' {
		i++
		fracStart := i
		if digits() == 0 {
			return false
		}
		c.num = append(c.num, in[fracStart:i]...)
		fracLen = int64(i - fracStart)
	}
	var exp int64
	if i < len(in) && (in[i] == 'e' || in[i] == 'E') {
		i++
		negExp := false
		if i < len(in) && (in[i] == '+' || in[i] == '-') {
			negExp = in[i] == '-'
			i++
		}
		expStart := i
		if digits() == 0 {
			return false
		}
		for _, d := range in[expStart:i] {
			exp = exp*10 + int64(d-'0')
			if exp > 1<<40 {
				return false // canonicalTree reports it out of range
			}
		}
		if negExp {
			exp = -exp
		}
	}
	c.pos = i
	c.out = appendCanonicalDigits(c.out, neg, c.num, exp-fracLen)
	return true
}

// appendCanonicalDigits writes the number ±digits × 10^exp as
// canonicalNumber does.
func appendCanonicalDigits(dst []byte, neg bool, digits []byte, exp int64) []byte {
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return append(dst, '0')
	}
	for digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if neg {
		dst = append(dst, '-')
	}
	n := int64(len(digits))
	switch point := n + exp; {
	case exp >= 0 && point <= 21:
		dst = append(dst, digits...)
		for range exp {
			dst = append(dst, '0')
		}
	case exp < 0 && point > 0:
		dst = append(dst, digits[:point]...)
		dst = append(dst, '.')
		dst = append(dst, digits[point:]...)
	case exp < 0 && point > -6:
		dst = append(dst, '0', '.')
		for range -point {
			dst = append(dst, '0')
		}
		dst = append(dst, digits...)
	default:
		dst = append(dst, digits[0])
		if n > 1 {
			dst = append(dst, '.')
			dst = append(dst, digits[1:]...)
		}
		dst = append(dst, 'e')
		if point-1 >= 0 {
			dst = append(dst, '+')
		}
		dst = strconv.AppendInt(dst, point-1, 10)
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// safeBytes and htmlSafeBytes are the bytes AppendString copies as
// they are, without and with HTML escaping (bytes from 0x80 on start a
// rune, which is looked at separately).
var safeBytes, htmlSafeBytes = func() (safe, htmlSafe [utf8.RuneSelf]bool) {
	for b := byte(0x20); b < utf8.RuneSelf; b++ {
		safe[b] = b != '"' && b != '\\'
		htmlSafe[b] = safe[b] && b != '<' && b != '>' && b != '&'
	}
	return safe, htmlSafe
}()

// AppendString appends s as a JSON string, escaped as encoding/json
// escapes it: control characters, '"' and '\\'; '<', '>' and '&' when
// escapeHTML; U+2028 and U+2029 always; and invalid UTF-8 as \ufffd.
func AppendString[S string | []byte](dst []byte, s S, escapeHTML bool) []byte {
	safe := &safeBytes
	if escapeHTML {
		safe = &htmlSafeBytes
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if safe[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		// As in encoding/json: converting at most four bytes to a string
		// does not allocate, and costs nothing when S is a string.
		c, size := utf8.DecodeRuneInString(string(s[i:min(len(s), i+utf8.UTFMax)]))
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
