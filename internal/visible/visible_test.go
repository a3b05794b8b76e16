package visible

import (
	"testing"
	"unicode/utf8"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, é and 漢字\nnext line\tand tab": "plain text, é and 漢字\nnext line\tand tab",
		"acct-\u202e1337-evil\u2066":               `acct-\u202E1337-evil\u2066`,
		"a\u200bb":                                 `a\u200Bb`,
		"\x1b[2K\rnew line":                        `\u001B[2K\u000Dnew line`,
		"\u009b2K":                                 `\u009B2K`,
		"tag\U000E0041":                            `tag\U000E0041`,
		"soft\u00adhyphen\ufeff":                   `soft\u00ADhyphen\uFEFF`,
		"bad \xff byte":                            `bad \xFF byte`,
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
	if got := Line("a\nb\tc\u200b"); got != `a b c\u200B` {
		t.Errorf("Line = %q", got)
	}
}

// FuzzEscape: the result is valid UTF-8 and holds no hidden character, and
// text without any comes back unchanged.
func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "abc", "\u202e", "\xff", "\U000E0041"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Escape(s)
		if !utf8.ValidString(got) {
			t.Fatalf("Escape(%q) = %q: not UTF-8", s, got)
		}
		clean := true
		for _, r := range s {
			clean = clean && !hidden(r) && r != utf8.RuneError
		}
		for _, r := range got {
			if hidden(r) {
				t.Fatalf("Escape(%q) = %q keeps %U", s, got, r)
			}
		}
		if clean && utf8.ValidString(s) && got != s {
			t.Fatalf("Escape(%q) = %q: changed clean text", s, got)
		}
	})
}
