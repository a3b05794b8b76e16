package fold

import "testing"

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
