package fold

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// names are the texts of TestName: each reads as its want.
var names = []struct{ in, want string }{
	{"delete_repo", "delete_repo"},
	{"Delete_Repo", "delete_repo"},
	{"DELETE_REPO", "delete_repo"},
	{" delete_repo\t\n", "delete_repo"},
	{"delete_repo\x00", "delete_repo"},
	{"delete_repo\x00; rm -rf /", "delete_repo"},
	{"delete_\u200brepo", "delete_repo"}, // zero-width space
	{"\ufeffdelete_repo", "delete_repo"}, // byte-order mark
	{"delete_repo\u202e", "delete_repo"}, // right-to-left override
	{"delete_repo\u00ad", "delete_repo"}, // soft hyphen
	{"delete_\x7frepo", "delete_repo"},   // DEL
	{"delete_\xffrepo", "delete_repo"},   // invalid UTF-8
	{"\u017fend", "send"},                // long s
	{"\u212aey", "key"},                  // Kelvin sign
	{"Sampling/CreateMessage", "sampling/createmessage"},
	{"delete repo", "delete repo"}, // inner space stays
	{"dеlete_repo", "dеlete_repo"}, // a Cyrillic е is another letter
	{"\x00", ""},

	// Compatibility forms read as the plain letters (NFKC).
	{"ｄｅｌｅｔｅ＿ｒｅｐｏ", "delete_repo"},            // fullwidth letters and low line
	{"ＤＥＬＥＴＥ_REPO", "delete_repo"},            // fullwidth capitals
	{"𝐝𝐞𝐥𝐞𝐭𝐞_repo", "delete_repo"},            // mathematical bold
	{"𝐃𝐞𝐥𝐞𝐭𝐞_repo", "delete_repo"},            // mathematical bold capital
	{"\ufb01le", "file"},                      // ligature ﬁ
	{"\u24d3elete_repo", "delete_repo"},       // circled ⓓ
	{"\u24b9elete_repo", "delete_repo"},       // circled Ⓓ
	{"repo\u00b2", "repo2"},                   // superscript two
	{"delete\u00a0repo\u3000", "delete repo"}, // no-break and ideographic spaces
	{"\u2126", "\u03c9"},                      // ohm sign, read as omega
	{"cafe\u0301", "caf\u00e9"},               // decomposed é, composed
	{"CAF\u00c9", "caf\u00e9"},                // composed É
	{"J\u030c", "\u01f0"},                     // no capital ǰ: folded, then composed
	{"\u0399\u0345", "\u03b9\u03b9"},          // ypogegrammeni: folds to ι
	{"\u00b4", "\u0301"},                      // acute accent: NFKC gives a space and a mark

	// Cyrillic "сору" looks like "copy" and is not: NFKC leaves it so.
	{"\u0441\u043e\u0440\u0443", "\u0441\u043e\u0440\u0443"},
}

func TestName(t *testing.T) {
	for _, c := range names {
		if got := Name(c.in); got != c.want {
			t.Errorf("Name(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
}

// Name's result reads as itself: a name folded once is not read as another
// when folded again (by a second lenient hop, or by Tollgate comparing
// folds of folds).
func TestNameIsStable(t *testing.T) {
	for _, c := range names {
		stable(t, c.in)
	}
	for _, s := range texts {
		stable(t, s)
	}
}

// Every rune alone, and after a letter it may combine with, is stable. A
// rune that case folding leaves as it is, and NFKC too, whatever comes
// before or after it, is left out: it is its own fold in any company.
func TestNameIsStableForEveryRune(t *testing.T) {
	for r := rune(0); r <= utf8.MaxRune; r++ {
		s := string(r)
		if p := norm.NFKC.PropertiesString(s); foldCase(r) == r && norm.NFKC.IsNormalString(s) &&
			p.BoundaryBefore() && p.BoundaryAfter() && !unicode.IsSpace(r) {
			continue
		}
		stable(t, s)
		stable(t, "a"+s)
		stable(t, "\u03b1"+s) // α, which composes with U+0345
		if t.Failed() {
			return
		}
	}
}

// stable fails t unless Name(Name(s)) == Name(s).
func stable(t *testing.T, s string) {
	t.Helper()
	if once, twice := Name(s), Name(Name(s)); twice != once {
		t.Errorf("Name(%+q) = %+q, but Name(%+q) = %+q", s, once, once, twice)
	}
}

func FuzzNameIsStable(f *testing.F) {
	for _, c := range names {
		f.Add(c.in)
	}
	for _, s := range texts {
		f.Add(s)
	}
	f.Add("\u03b1\u0345\u0301")
	f.Add("\u037a\u0345")
	f.Add("W\u030a")
	f.Fuzz(func(t *testing.T, s string) {
		stable(t, s)
	})
}

func TestNamePlainDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { Name("tools/call") }); n != 0 {
		t.Errorf("Name of a plain name allocates %v times", n)
	}
}

// texts are compared with one another, each way, by
// TestEqualPrefixContainsAgreeWithName.
var texts = []string{"", " ", "prod-api", "Prod-API", " prod-api ", "prod-\u200bapi", "prod\tapi", "prod api",
	"PROD-API\x00x", "release/1.0", "Release/1.0", " release/", "drop table users", "DROP TABLE", "Drop\u200b Table x",
	"\u212aelvin", "kelvin", "ſend", "SEND", "a\x7fb", "ab", "\u00a0ab\u00a0",
	"ｐｒｏｄ－ａｐｉ", "ＰＲＯＤ-api", "𝐩𝐫𝐨𝐝-api", "\u24c5rod-api", "ｒｅｌｅａｓｅ/", "ＤＲＯＰ ＴＡＢＬＥ",
	"\ufb01le", "file", "Fi", "\ufb03", "ffi", "x\u00b2", "x2", "\u2460", "1", "cafe\u0301", "caf\u00e9", "CAF\u00c9",
	"\u00b4", "\u0301", "\u03b1\u0345", "\u1fb3", "\u0441\u043e\u0440\u0443", "copy"}

// Equal, HasPrefix and Contains agree with Name, on the ASCII fast path
// and off it.
func TestEqualPrefixContainsAgreeWithName(t *testing.T) {
	for _, a := range texts {
		for _, b := range texts {
			agree(t, a, b)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		Equal("Prod-API ", "prod-api")
		HasPrefix("Release/1.0", "release/")
		Contains("SELECT * FROM users; DROP TABLE users", "drop table")
	}); n != 0 {
		t.Errorf("ASCII text allocates %v times", n)
	}
}

func FuzzFastPathsAgreeWithName(f *testing.F) {
	f.Add("Prod-API ", "prod-api")
	f.Add("DROP TABLE users", "drop table")
	f.Add("release/1", " Release/")
	f.Add("ｐｒｏｄ－ａｐｉ", "prod")
	f.Add("\ufb01le", "fi")
	f.Add("cafe\u0301", "caf\u00e9")
	f.Fuzz(func(t *testing.T, a, b string) {
		agree(t, a, b)
	})
}

// agree fails t unless Equal, HasPrefix and Contains say of a and b what
// Name says.
func agree(t *testing.T, a, b string) {
	t.Helper()
	if got, want := Equal(a, b), Name(a) == Name(b); got != want {
		t.Errorf("Equal(%+q, %+q) = %v, Name says %v", a, b, got, want)
	}
	fb := Name(b)
	if got, want := HasPrefix(a, b), fb != "" && strings.HasPrefix(Name(a), fb); got != want {
		t.Errorf("HasPrefix(%+q, %+q) = %v, Name says %v", a, b, got, want)
	}
	fs := Name(strings.ReplaceAll(b, "\x00", ""))
	if got, want := Contains(a, b), fs != "" && strings.Contains(Name(strings.ReplaceAll(a, "\x00", "")), fs); got != want {
		t.Errorf("Contains(%+q, %+q) = %v, Name says %v", a, b, got, want)
	}
}
