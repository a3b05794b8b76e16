package policy

import (
	"fmt"
	"sort"
	"strings"

	suggestpkg "github.com/tollgate-mcp/tollgate/internal/suggest"
)

// Problem is one defect found while loading a policy. Line and Col are
// 1-based; Col is 0 when only the line is known (YAML syntax errors).
type Problem struct {
	File string
	Line int
	Col  int
	Msg  string
}

// String renders the problem as "file:line:col: message".
func (p Problem) String() string {
	switch {
	case p.Line == 0:
		return p.File + ": " + p.Msg
	case p.Col == 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg)
}

// LoadError is the error returned by Load and LoadFile. It lists every
// problem found in the policy, in source order, not just the first.
type LoadError struct {
	Problems []Problem
}

// Error joins the problems, one "file:line:col: message" per line.
func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Line != ps[j].Line {
			return ps[i].Line < ps[j].Line
		}
		return ps[i].Col < ps[j].Col
	})
}

// suggest returns ` (did you mean "x"?)` when one of the candidates is
// close to word, or "" when none is.
func suggest(word string, candidates []string) string {
	return suggestpkg.DidYouMean(word, candidates)
}
