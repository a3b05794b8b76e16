// Package visible writes text that came from an agent or a server so that
// the person reading it sees every character: what a tool call holds, a
// tool's definition, a reason. A right-to-left override can make
// "acct-1337" read as another account, a zero-width space can split a word
// a reviewer searches for, and a control sequence can rewrite a terminal
// line; each is written as an escape instead.
package visible

import (
	"strings"
	"unicode/utf8"
)

const hexDigits = "0123456789ABCDEF"

// hidden reports whether r is written as an escape: the C0 controls but
// the line feed and the tab, DEL and the C1 controls, the soft hyphen, the
// combining grapheme joiner, the Arabic letter mark, the Mongolian free
// variation selectors and vowel separator, the zero-width and directional
// marks, the bidirectional embeddings, overrides and isolates, the word
// joiner and the invisible operators, the byte order mark, the variation
// selectors, the interlinear annotation characters and the tag characters.
func hidden(r rune) bool {
	switch {
	case r < 0x20:
		return r != '\n' && r != '\t'
	case r < 0x7f:
		return false
	case r < 0xa0, r == 0xad, r == 0x34f, r == 0x61c, r >= 0x180b && r <= 0x180e,
		r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2060 && r <= 0x206f,
		r == 0xfeff, r >= 0xfe00 && r <= 0xfe0f, r >= 0xfff9 && r <= 0xfffb, r >= 0xe0000 && r <= 0xe0fff:
		return true
	}
	return false
}

// Escape returns s with every hidden character written as \uXXXX (\UXXXXXXXX
// beyond the Basic Multilingual Plane), upper-case hex; an invalid UTF-8
// byte is written as \xXX. Text with none is returned as it is.
func Escape(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if hidden(r) || (r == utf8.RuneError && n == 1) {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteByte(hexDigits[s[i]>>4])
			b.WriteByte(hexDigits[s[i]&0xf])
		case hidden(r) && r > 0xffff:
			b.WriteString(`\U`)
			for shift := 28; shift >= 0; shift -= 4 {
				b.WriteByte(hexDigits[(r>>shift)&0xf])
			}
		case hidden(r):
			b.WriteString(`\u`)
			for shift := 12; shift >= 0; shift -= 4 {
				b.WriteByte(hexDigits[(r>>shift)&0xf])
			}
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// Line is Escape for text shown on one line: a line feed or a tab is a
// space first.
func Line(s string) string {
	if strings.ContainsAny(s, "\n\t") {
		s = strings.Map(func(r rune) rune {
			if r == '\n' || r == '\t' {
				return ' '
			}
			return r
		}, s)
	}
	return Escape(s)
}
