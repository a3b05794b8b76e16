package scan

import (
	"strings"
	"unicode"
)

// nameWords splits an identifier into lower-case words: snake_case,
// kebab-case, dotted, slashed and camelCase names all split the same way.
// An acronym stays one word ("createAPIKey" → create, api, key) and digits
// stay with the letters before them ("d1", "s3").
func nameWords(s string) []string {
	var words []string
	rs := []rune(s)
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			words = append(words, strings.ToLower(string(rs[start:end])))
		}
		start = -1
	}
	for i, r := range rs {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		prev := rs[i-1]
		switch {
		case unicode.IsUpper(r) && (unicode.IsLower(prev) || unicode.IsDigit(prev)):
			// fooBar, d1Database
			flush(i)
			start = i
		case unicode.IsUpper(prev) && unicode.IsUpper(r) && i+1 < len(rs) && unicode.IsLower(rs[i+1]):
			// APIKey: the K starts a new word.
			flush(i)
			start = i
		}
	}
	flush(len(rs))
	return words
}

// proseWord is one token of a description: a lower-case word, or one of the
// separators that join verbs in a list ("," "/" "&").
type proseWord = string

// proseWords tokenizes the first sentence of a description for verb
// detection. Hyphens split words ("Full-text search" → full, text, search).
func proseWords(s string) []proseWord {
	s = firstSentence(s)
	var out []proseWord
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, strings.ToLower(b.String()))
			b.Reset()
		}
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'':
			b.WriteRune(r)
		case r == ',' || r == '/' || r == '&':
			flush()
			out = append(out, string(r))
		default:
			flush()
		}
	}
	flush()
	return out
}

// firstSentence returns s up to the first sentence end.
func firstSentence(s string) string {
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
		if r == '.' || r == '!' || r == '?' || r == ';' || r == ':' {
			// A dot inside a word ("repo.delete", "v1.2") does not end it.
			if i+1 >= len(s) || s[i+1] == ' ' || s[i+1] == '\n' {
				return s[:i]
			}
		}
	}
	return s
}

// lemmas returns w and the forms it may be an inflection of, most likely
// first: "deletes" → deletes, delete, delet; "queries" → query.
func lemmas(w string) []string {
	out := []string{w}
	add := func(s string) {
		if len(s) >= 2 {
			out = append(out, s)
		}
	}
	if b, ok := strings.CutSuffix(w, "ies"); ok {
		add(b + "y")
	}
	if b, ok := strings.CutSuffix(w, "es"); ok {
		add(b)
	}
	if b, ok := strings.CutSuffix(w, "s"); ok && !strings.HasSuffix(w, "ss") {
		add(b)
	}
	if b, ok := strings.CutSuffix(w, "ed"); ok {
		add(b)
		add(b + "e")
		if n := len(b); n > 2 && b[n-1] == b[n-2] {
			add(b[:n-1]) // dropped
		}
	}
	if b, ok := strings.CutSuffix(w, "ing"); ok {
		add(b)
		add(b + "e")
	}
	return out
}

// oneLine collapses every run of white space and control characters
// (including the Unicode line and paragraph separators) into one space, so
// that untrusted text can be placed on a single comment line.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || r == '\ufeff' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// truncate shortens s to at most n runes, ending with an ellipsis.
func truncate(s string, n int) string {
	rs := []rune(s)
	if len(rs) <= n {
		return s
	}
	return strings.TrimRight(string(rs[:n-1]), " ") + "…"
}
