package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"conditions", "conditions", 0},
		{"condtions", "conditions", 1},  // a deletion
		{"conditoins", "conditions", 1}, // a transposition
		{"kitten", "sitting", 3},
		{"héllo", "hello", 1}, // runes, not bytes
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Distance(c.b, c.a); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (not symmetric)", c.b, c.a, got, c.want)
		}
	}
}

func TestDidYouMean(t *testing.T) {
	keys := []string{"version", "tools", "hide", "default", "rate_limit", "conditions"}
	for _, c := range []struct {
		word, want string
	}{
		{"toolz", ` (did you mean "tools"?)`},
		{"Conditoins", ` (did you mean "conditions"?)`}, // case folded, transposition
		{"ratelimit", ` (did you mean "rate_limit"?)`},
		{"hid", ` (did you mean "hide"?)`}, // short word: one edit
		{"hd", ""},                         // short word: two edits is a guess
		{"x", ""},                          // as many edits as characters
		{"completely_else", ""},
	} {
		if got := DidYouMean(c.word, keys); got != c.want {
			t.Errorf("DidYouMean(%q) = %q, want %q", c.word, got, c.want)
		}
	}
	if got := Closest("tool", []string{"tools", "tool_"}); got != "tools" {
		t.Errorf("equally close candidates: got %q, want the first", got)
	}
}
