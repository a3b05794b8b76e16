package inspect

// The text scanner: one pass over a decoded string. Bytes are sorted by a
// table into word bytes ([A-Za-z0-9_-]), trigger bytes (a few punctuation
// marks and every byte of a multi-byte character) and the rest. A word is
// dispatched on its length and first byte, so that most words cost a
// compare or two; a trigger byte starts the check it triggers. Detectors
// match forward from there like anchored patterns, and only there.

const (
	clsWord = 1 << iota
	clsTrig
	clsUpper
	clsDigit
	clsLower
)

var byteClass = func() (t [256]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = clsWord | clsLower
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = clsWord | clsUpper
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = clsWord | clsDigit
	}
	t['_'], t['-'] = clsWord, clsWord
	for _, c := range "@:<[+(" {
		t[c] = clsTrig
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = clsTrig
	}
	return t
}()

func isDigit(c byte) bool    { return c-'0' < 10 }
func isUpper(c byte) bool    { return c-'A' < 26 }
func isLower(c byte) bool    { return c-'a' < 26 }
func isAlpha(c byte) bool    { return isUpper(c) || isLower(c) }
func isAlnum(c byte) bool    { return isAlpha(c) || isDigit(c) }
func lower(c byte) byte      { return c | 0x20*b2u(isUpper(c)) }
func isSpace(c byte) bool    { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isHexDigit(c byte) bool { return isDigit(c) || (c|0x20)-'a' < 6 }
func isB64URL(c byte) bool   { return isAlnum(c) || c == '-' || c == '_' }
func isB64Std(c byte) bool   { return isAlnum(c) || c == '+' || c == '/' || c == '=' }
func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// wordFollow marks the bytes after a word that make word look further:
// a key name's = : " ', the '.' of hooks.slack.com and of a JWT. (A space
// before = or :, and "bearer ", are checked where this is used.)
var wordFollow = func() (t [256]bool) {
	for _, c := range "=:\"'." {
		t[c] = true
	}
	return t
}()

// numLen marks the lengths of a word starting with a digit that numeric
// looks at: card groups (4) and runs (12+), phone parts (3 to 5), SSN
// (11), DNI and BSN (9, 10).
var numLen = [12]bool{3: true, 4: true, 5: true, 9: true, 10: true, 11: true}

// scanner holds the state of one string's scan. The zero value is ready.
type scanner struct {
	t       []byte
	key     []byte // the JSON key the string is the value of, if any
	hits    []hit
	hidden  bool // saw a character that hides text (zero-width, bidi, tag, soft hyphen)
	foreign bool // saw Cyrillic or CJK (see foreignPhrases)

	strip []byte  // t without hidden characters (second pass)
	smap  []int32 // offset in t of each byte of strip
}

// scan appends the hits in t to s.hits.
func (s *scanner) scan(t, key []byte) {
	s.t, s.key = t, key
	s.hidden, s.foreign = false, false
	s.words(t, 0)
	if s.foreign {
		s.foreignPhrases(t)
	}
	if key != nil {
		s.keyContext(t, key)
	}
	if s.hidden {
		s.rescanStripped()
	}
}

// words is the main loop over t from i.
func (s *scanner) words(t []byte, i int) {
	n := len(t)
	for i < n {
		c := t[i]
		k := byteClass[c]
		if k == 0 {
			i++
			continue
		}
		if k&clsWord != 0 {
			j := i + 1
			for j < n && byteClass[t[j]]&clsWord != 0 {
				j++
			}
			// Most words are short lower-case words followed by a space or a
			// full stop, and cannot start anything: skip them here.
			if l := j - i; l >= 12 || injCand[c][l] || j < n && (wordFollow[t[j]] ||
				t[j] == ' ' && (l == 6 && c|0x20 == 'b' || j+1 < n && (t[j+1] == '=' || t[j+1] == ':'))) ||
				k&clsDigit != 0 && numLen[l] || c == '-' ||
				k&clsUpper != 0 && (l == 2 || l == 9 || l >= 4 && isUpper(t[i+1]) && isDigit(t[i+2])) {
				s.word(i, j)
			}
			i = j
			continue
		}
		switch c {
		case '@':
			s.email(i)
		case ':':
			if i+2 < n && t[i+1] == '/' && t[i+2] == '/' {
				s.urlPassword(i)
			}
		case '<':
			s.tag(i)
		case '[':
			s.bracket(i)
		case '+':
			s.e164(i)
		case '(':
			s.nanpParen(i)
		default:
			i = s.highByte(i)
			continue
		}
		i++
	}
}

// add records a hit.
func (s *scanner) add(d detID, a, b int) {
	s.hits = append(s.hits, hit{det: d, start: a, end: b})
}

// word dispatches the word t[a:b].
func (s *scanner) word(a, b int) {
	t := s.t
	c := t[a]
	n := b - a
	switch {
	case isDigit(c):
		s.numeric(a, b)
		return
	case c == '-':
		if n >= 5 && hasPrefix(t[a:], "-----BEGIN ") {
			s.privateKey(a)
		}
		return
	}
	if n >= 15 {
		s.token(a, b)
	}
	if isUpper(c) {
		s.upperWord(a, b)
	}
	if c == 'e' && n >= 10 && b < len(t) && t[b] == '.' && hasPrefix(t[a:], "eyJ") {
		s.jwt(a, b)
	}
	if n <= 12 && injCand[c][n] {
		s.injectWord(a, b)
	}
	if b < len(t) {
		switch t[b] {
		case '=', ':', '"', '\'':
			s.keyword(a, b)
		case '.':
			if n == 5 && c == 'h' && hasPrefix(t[a:], "hooks.slack.com/services/") {
				s.slackWebhook(a)
			}
		case ' ':
			if b+1 < len(t) && (t[b+1] == '=' || t[b+1] == ':') {
				s.keyword(a, b)
			}
			if n == 6 && (c == 'B' || c == 'b') && equalFold(t[a:b], "bearer") {
				s.bearer(b + 1)
			}
		}
	}
}

func hasPrefix(t []byte, p string) bool {
	return len(t) >= len(p) && string(t[:len(p)]) == p
}

// equalFold compares ASCII case-insensitively; p is lower case.
func equalFold(t []byte, p string) bool {
	if len(t) != len(p) {
		return false
	}
	for i := range len(p) {
		if lower(t[i]) != p[i] {
			return false
		}
	}
	return true
}

// hasPrefixFold is hasPrefix, ASCII case-insensitive; p is lower case.
func hasPrefixFold(t []byte, p string) bool {
	return len(t) >= len(p) && equalFold(t[:len(p)], p)
}

// wordEnd returns the end of the run of bytes from i for which ok holds.
func wordEnd(t []byte, i int, ok func(byte) bool) int {
	for i < len(t) && ok(t[i]) {
		i++
	}
	return i
}

// highByte handles a byte >= 0x80 at i and returns where to go on.
func (s *scanner) highByte(i int) int {
	t := s.t
	c := t[i]
	if c == 0xD0 || c == 0xD1 || c >= 0xE3 && c <= 0xED {
		s.foreign = true
	}
	switch c {
	case 0xE2, 0xEF, 0xC2:
		if hiddenLen(t, i) > 0 {
			return s.hiddenRun(i)
		}
	case 0xF3:
		if hiddenLen(t, i) > 0 {
			return s.tagRun(i)
		}
	}
	return i + 1
}

// Kinds of hidden character.
const (
	hidZW   = 1 // zero-width and other invisible characters
	hidBidi = 2
	hidTag  = 3
)

// hiddenLen returns the length of the hidden character at t[i], or 0, and
// its kind.
func hiddenKind(t []byte, i int) (int, int) {
	if i+1 >= len(t) {
		return 0, 0
	}
	switch t[i] {
	case 0xC2:
		if t[i+1] == 0xAD { // U+00AD soft hyphen
			return 2, hidZW
		}
	case 0xE2:
		if i+2 >= len(t) {
			return 0, 0
		}
		c1, c2 := t[i+1], t[i+2]
		switch {
		case c1 == 0x80 && c2 >= 0x8B && c2 <= 0x8D: // U+200B-200D
			return 3, hidZW
		case c1 == 0x80 && c2 >= 0xAA && c2 <= 0xAE: // U+202A-202E
			return 3, hidBidi
		case c1 == 0x81 && c2 >= 0xA0 && c2 <= 0xA4: // U+2060-2064
			return 3, hidZW
		case c1 == 0x81 && c2 >= 0xA6 && c2 <= 0xA9: // U+2066-2069
			return 3, hidBidi
		}
	case 0xEF:
		if i+2 < len(t) && t[i+1] == 0xBB && t[i+2] == 0xBF { // U+FEFF
			return 3, hidZW
		}
	case 0xF3:
		// U+E0000-E007F: F3 A0 80 80 .. F3 A0 81 BF
		if i+3 < len(t) && t[i+1] == 0xA0 && (t[i+2] == 0x80 || t[i+2] == 0x81) && t[i+3]&0xC0 == 0x80 {
			return 4, hidTag
		}
	}
	return 0, 0
}

func hiddenLen(t []byte, i int) int {
	n, _ := hiddenKind(t, i)
	return n
}

// hiddenRun reports a run of zero-width characters (two or more: a lone
// zero-width joiner is how emoji sequences are spelt) and every bidi
// control, and returns the end of the run.
func (s *scanner) hiddenRun(i int) int {
	t := s.t
	s.hidden = true
	start := i
	zw, bidi := 0, false
	for i < len(t) {
		n, k := hiddenKind(t, i)
		if n == 0 || k == hidTag {
			break
		}
		if k == hidBidi {
			bidi = true
		} else {
			zw++
		}
		i += n
	}
	switch {
	case bidi:
		s.add(dBidiControl, start, i)
	case zw >= 2:
		s.add(dZeroWidth, start, i)
	}
	return i
}

// tagRun reports a run of Unicode tag characters, which display as nothing
// and spell ASCII to a model; the one use in ordinary text, a subdivision
// flag (black flag, up to six tag letters, cancel tag), is let through.
func (s *scanner) tagRun(i int) int {
	t := s.t
	s.hidden = true
	start := i
	for i < len(t) {
		n, k := hiddenKind(t, i)
		if k != hidTag {
			break
		}
		i += n
	}
	flag := start >= 4 && string(t[start-4:start]) == "\U0001F3F4" &&
		i-start <= 7*4 && string(t[i-4:i]) == "\U000E007F"
	if !flag {
		s.add(dUnicodeTags, start, i)
	}
	return i
}

// rescanStripped scans t again without its hidden characters, so that a
// zero-width space inside a key or a phrase does not hide it, and maps what
// it finds back onto t.
func (s *scanner) rescanStripped() {
	t := s.t
	s.strip, s.smap = s.strip[:0], s.smap[:0]
	for i := 0; i < len(t); {
		if n := hiddenLen(t, i); n > 0 {
			i += n
			continue
		}
		s.strip = append(s.strip, t[i])
		s.smap = append(s.smap, int32(i))
		i++
	}
	if len(s.strip) == len(t) {
		return
	}
	first := len(s.hits)
	strip := s.strip
	s.t = strip
	s.words(strip, 0)
	if s.foreign {
		s.foreignPhrases(strip)
	}
	s.t = t
	kept := s.hits[:first]
	for _, h := range s.hits[first:] {
		if h.det == dZeroWidth || h.det == dBidiControl || h.det == dUnicodeTags {
			continue
		}
		a := int(s.smap[h.start])
		b := len(t)
		if h.end < len(s.smap) {
			b = int(s.smap[h.end])
		}
		dup := false
		for _, k := range kept[:first] {
			if k.det == h.det && k.start == a {
				dup = true
				break
			}
		}
		if !dup {
			kept = append(kept, hit{det: h.det, start: a, end: b})
		}
	}
	s.hits = kept
}
