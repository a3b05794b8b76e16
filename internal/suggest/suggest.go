// Package suggest proposes the known word closest to a misspelt one, for
// the "did you mean" of error messages (a policy key, a gateway file key, a
// detector name).
package suggest

import (
	"fmt"
	"strings"
)

// DidYouMean returns ` (did you mean "x"?)` when one of candidates is close
// to word, or "" when none is. Close means within two edits (one for a word
// of three characters or fewer), compared with word in lower case, and
// fewer edits than word has characters: a short word is not "corrected"
// into an unrelated one. Of equally close candidates the first wins.
func DidYouMean(word string, candidates []string) string {
	if best := Closest(word, candidates); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Closest returns the candidate DidYouMean would propose, "" for none.
func Closest(word string, candidates []string) string {
	limit := 2
	if len(word) <= 3 {
		limit = 1
	}
	lower := strings.ToLower(word)
	best, bestD := "", limit+1
	for _, c := range candidates {
		if d := Distance(lower, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" || bestD >= len([]rune(word)) {
		return ""
	}
	return best
}

// Distance is the Levenshtein distance between a and b, counted in runes,
// with a transposition of two adjacent characters as one edit (optimal
// string alignment): "condtions" and "conditoins" are both one edit from
// "conditions".
func Distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
