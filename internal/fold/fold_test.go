package fold

import (
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	for _, c := range []struct{ in, want string }{
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
		{"\u017fend", "send"},                // long s
		{"\u212aey", "key"},                  // Kelvin sign
		{"Sampling/CreateMessage", "sampling/createmessage"},
		{"delete repo", "delete repo"}, // inner space stays
		{"dеlete_repo", "dеlete_repo"}, // a Cyrillic е is another letter
		{"\x00", ""},
	} {
		if got := Name(c.in); got != c.want {
			t.Errorf("Name(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNamePlainDoesNotAllocate(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { Name("tools/call") }); n != 0 {
		t.Errorf("Name of a plain name allocates %v times", n)
	}
}

// Equal, HasPrefix and Contains agree with Name, on the ASCII fast path
// and off it.
func TestEqualPrefixContainsAgreeWithName(t *testing.T) {
	texts := []string{"", " ", "prod-api", "Prod-API", " prod-api ", "prod-\u200bapi", "prod\tapi", "prod api",
		"PROD-API\x00x", "release/1.0", "Release/1.0", " release/", "drop table users", "DROP TABLE", "Drop\u200b Table x",
		"\u212aelvin", "kelvin", "ſend", "SEND", "a\x7fb", "ab", "\u00a0ab\u00a0"}
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
	f.Fuzz(func(t *testing.T, a, b string) {
		agree(t, a, b)
	})
}

// agree fails t unless Equal, HasPrefix and Contains say of a and b what
// Name says.
func agree(t *testing.T, a, b string) {
	t.Helper()
	if got, want := Equal(a, b), Name(a) == Name(b); got != want {
		t.Errorf("Equal(%q, %q) = %v, Name says %v", a, b, got, want)
	}
	fb := Name(b)
	if got, want := HasPrefix(a, b), fb != "" && strings.HasPrefix(Name(a), fb); got != want {
		t.Errorf("HasPrefix(%q, %q) = %v, Name says %v", a, b, got, want)
	}
	fs := Name(strings.ReplaceAll(b, "\x00", ""))
	if got, want := Contains(a, b), fs != "" && strings.Contains(Name(strings.ReplaceAll(a, "\x00", "")), fs); got != want {
		t.Errorf("Contains(%q, %q) = %v, Name says %v", a, b, got, want)
	}
}
