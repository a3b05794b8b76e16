package policy

import (
	"fmt"
	"sort"

	"github.com/tollgate-mcp/tollgate/internal/fold"
)

// A policy names tools exactly, and so does the specification: tool names
// are case-sensitive. Not every server is that strict. One that looks a
// name up without regard to case, trims it, drops control characters or
// reads it as a C string (up to its first NUL) runs "delete_repo" for a
// call to "Delete_Repo", "delete_repo " or "delete_repo\u0000x", names
// that no key of the policy matches. Under `default: allow` such a call
// would get none of the rules the policy wrote for delete_repo.
//
// So a call whose name reads as a name the policy governs, but is not that
// name, is refused unless the server listed the name exactly (then it is a
// tool of its own, and its own rules apply): see ReadsAs.

// nameKey is a name the policy governs as a lenient server may read it.
type nameKey struct {
	folded string // fold of the key (a glob's fold is a glob)
	key    string // the key as the policy writes it
	glob   bool
	hidden bool // the key is on the hide list
}

// indexNames notes every name the policy governs: tools keys with rules of
// their own (beyond the "*" rules every tool gets), tools with an inspect
// section of their own, and the hide list. A key whose plan is the same
// as the fallback's changes nothing for a call that misses it.
func (p *Policy) indexNames() {
	fb := p.fallback
	governs := func(pl *plan) bool {
		return len(pl.denies)+len(pl.checks)+len(pl.approvals)+len(pl.charges) >
			len(fb.denies)+len(fb.checks)+len(fb.approvals)+len(fb.charges)
	}
	add := func(key string, glob, hidden bool) {
		p.names = append(p.names, nameKey{folded: fold.Name(key), key: key, glob: glob, hidden: hidden})
	}
	for key := range p.hideExact {
		add(key, false, true)
	}
	for _, g := range p.hideGlobs {
		add(g, true, true)
	}
	for key, pl := range p.exact {
		if _, hidden := p.hideExact[key]; !hidden && (governs(pl) || p.inspections[key] != nil) {
			add(key, false, false)
		}
	}
	for key := range p.inspections {
		if _, ok := p.exact[key]; !ok && key != "*" && key != "resources/read" && key != "prompts/get" {
			add(key, false, false) // inspect for a tool no tools key names
		}
	}
	for _, pl := range p.globs {
		if governs(pl) {
			add(pl.key, true, false)
		}
	}
	// Hidden keys first: a name that reads as a hidden tool is answered as
	// that tool would be, whatever else it reads as. Then byte order, so
	// that the answer does not depend on the order of a map.
	sort.Slice(p.names, func(i, j int) bool {
		a, b := p.names[i], p.names[j]
		if a.hidden != b.hidden {
			return a.hidden
		}
		return a.key < b.key
	})
	for _, n := range p.names {
		if n.glob {
			p.nameGlobs = append(p.nameGlobs, n)
			continue
		}
		if p.nameExact == nil {
			p.nameExact = map[string][]nameKey{}
		}
		p.nameExact[n.folded] = append(p.nameExact[n.folded], n)
	}
}

// GovernsNames reports whether ReadsAs can ever be true: the policy governs
// some tool by name. The gate then notes the names the server lists.
func (p *Policy) GovernsNames() bool { return len(p.names) > 0 }

// ReadsAs reports whether a call to tool would reach a tool the policy
// governs on a server that ignores case, surrounding spaces, control and
// format characters or compatibility forms (NFKC: fullwidth letters) in
// names, or stops reading a name at a NUL, while the
// policy's keys do not match tool itself: key is the governed name (or
// glob), hidden whether it is on the hide list. A tool that a tools key
// names exactly is never read as another. The caller decides whether the
// server listed tool exactly, which makes it a tool of its own.
//
// ReadsAs does not allocate for a name of lower-case ASCII letters,
// digits, '_', '-', '.' and '/', the names the specification recommends
// (upper case aside).
func (p *Policy) ReadsAs(tool string) (key string, hidden, ok bool) {
	if len(p.names) == 0 {
		return "", false, false
	}
	if _, exact := p.exact[tool]; exact {
		return "", false, false
	}
	folded := fold.Name(tool)
	// A hidden name first, exact or glob; then a governed one, exact or
	// glob (indexNames' order).
	var exact *nameKey
	for i, n := range p.nameExact[folded] {
		if n.key != tool {
			exact = &p.nameExact[folded][i]
			break
		}
	}
	if exact != nil && exact.hidden {
		return exact.key, true, true
	}
	for _, n := range p.nameGlobs {
		if (n.hidden || exact == nil) && globMatch(n.folded, folded) && !globMatch(n.key, tool) {
			return n.key, n.hidden, true
		}
	}
	if exact != nil {
		return exact.key, false, true
	}
	return "", false, false
}

// misreadReason is the denial of a call to tool, which reads as key.
func misreadReason(tool, key string) string {
	return fmt.Sprintf("tool name %q reads as %q, which the policy governs, and the server has not listed it: call the tool by its exact name", tool, key)
}
