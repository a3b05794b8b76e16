// Package fold reads a name as a lenient peer may read it. The MCP and
// JSON-RPC specifications compare method and tool names exactly, byte for
// byte; some servers do not: they look a name up without regard to case,
// trim it, drop control characters, read it as a C string, up to its first
// NUL, or normalise it to Unicode compatibility form (NFKC, as Python's
// unicodedata.normalize does, and as a database collation such as MySQL's
// utf8mb4_unicode_ci compares), so that fullwidth, mathematical, circled
// and ligature letters read as the plain ones. Tollgate governs names
// exactly, so a name that such a server reads as a governed one, without
// being it, must be refused rather than let past the rules of the name it
// stands for.
package fold

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Name returns name as a lenient peer may read it: up to its first NUL,
// without control and format characters (Unicode Cc and Cf: zero-width
// spaces and joiners, direction marks, a byte-order mark) or invalid UTF-8,
// in Unicode compatibility form NFKC (fullwidth 'ｄ', mathematical bold
// '𝐝', circled 'ⓓ' read as 'd', the ligature 'ﬁ' as "fi", a superscript
// '²' as '2', a no-break space as a space), case folded ('ſ' reads as 's',
// the Kelvin sign as 'k', as a case-insensitive comparison reads them), and
// trimmed of white space. Letters of other scripts that only look alike
// stay other letters (a Cyrillic 'е' is not 'e').
//
// Name's result reads as itself: Name(Name(s)) == Name(s) for every s.
// Name does not allocate for a name of lower-case ASCII letters, digits,
// '_', '-', '.', '/' and '*' (which it returns as it is).
func Name(name string) string {
	if plain(name) {
		return name
	}
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	// NFKC brings forth capitals ('𝐃' is 'D'), so case folding comes after
	// it; and case folding can leave what NFKC would change (no capital
	// ǰ exists, so "J\u030c" is NFKC, but its fold "j\u030c" is not), so
	// NFKC comes again after it. Then the result is stable
	// (TestNameIsStableForEveryRune, FuzzNameIsStable).
	name = nfkc(strings.Map(visible, name))
	name = nfkc(strings.Map(foldCase, name))
	return strings.TrimFunc(name, unicode.IsSpace)
}

// nfkc returns s in NFKC. ASCII is its own NFKC: it is returned without
// consulting the tables (whose pages a process that sees only ASCII names
// then never reads).
func nfkc(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return norm.NFKC.String(s)
		}
	}
	return s
}

// visible drops r (returns -1) if a lenient peer may not see it: a control
// or format character, or a byte of invalid UTF-8.
func visible(r rune) rune {
	if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
		return -1
	}
	return r
}

// foldCase returns r as a case-insensitive comparison reads it.
func foldCase(r rune) rune {
	return unicode.ToLower(unicode.ToUpper(r))
}

// plain reports whether name is its own fold.
func plain(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/' || c == '*') {
			return false
		}
	}
	return true
}

// Equal reports whether a and b read the same: Name(a) == Name(b). It does
// not allocate for ASCII text without control characters.
func Equal(a, b string) bool {
	if a == b {
		return true
	}
	if !ascii(a) || !ascii(b) {
		return Name(a) == Name(b)
	}
	return strings.EqualFold(strings.Trim(a, " "), strings.Trim(b, " "))
}

// HasPrefix reports whether s, read as Name reads it, begins with prefix,
// read so, and prefix reads as something (an empty or all-space prefix is
// no prefix of anything). It does not allocate for ASCII text without
// control characters.
func HasPrefix(s, prefix string) bool {
	if !ascii(s) || !ascii(prefix) {
		f := Name(prefix)
		return f != "" && strings.HasPrefix(Name(s), f)
	}
	prefix = strings.Trim(prefix, " ")
	s = strings.TrimLeft(s, " ")
	return prefix != "" && len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// Contains reports whether s, read as Name reads it but not cut at a NUL
// (NULs are dropped), holds sub, read so, and sub reads as something. It
// does not allocate for ASCII text without control characters.
func Contains(s, sub string) bool {
	if !ascii(s) || !ascii(sub) {
		f := Name(strings.ReplaceAll(sub, "\x00", ""))
		return f != "" && strings.Contains(Name(strings.ReplaceAll(s, "\x00", "")), f)
	}
	sub = strings.Trim(sub, " ")
	if sub == "" {
		return false
	}
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// ascii reports whether s is printable ASCII (no control characters, not
// even tabs, which Name drops), where Name is trimming spaces and ASCII
// case folding.
func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}
