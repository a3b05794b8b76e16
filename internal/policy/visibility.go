package policy

import (
	"sort"
	"strings"
)

// DefaultDenies reports whether tool falls to `default: deny`: no tools key
// matches it. The gate answers such a call as for an unknown tool when the
// server has not listed the tool, so that a hidden tool and a tool that does
// not exist look the same.
func (p *Policy) DefaultDenies(tool string) bool {
	return p.defaultDeny && !p.planFor(tool).listed
}

// DefaultDeny reports whether the policy says `default: deny`.
func (p *Policy) DefaultDeny() bool { return p.defaultDeny }

// Visibility is a key that differs between two policies exactly when they
// hide different tools from tools/list (the hide list, or monitor mode,
// which hides nothing). A reload that changes it tells clients their list
// changed.
func (p *Policy) Visibility() string {
	if p.mode == Monitor || !p.HidesAny() {
		return ""
	}
	if p.hideAll {
		return "*all"
	}
	names := make([]string, 0, len(p.hideExact)+len(p.hideGlobs))
	for n := range p.hideExact {
		names = append(names, "="+n)
	}
	for _, g := range p.hideGlobs {
		names = append(names, "~"+g)
	}
	sort.Strings(names)
	return strings.Join(names, "\x00")
}

// Needs reports what judging a call to tool may have to ask for: a person's
// approval (an approval rule applies to it), or counters (a rate limit or
// state rule does). The gate judges a call that needs neither without any
// I/O.
func (p *Policy) Needs(tool string) (approval, counters bool) {
	if p.Hidden(tool) {
		return false, false
	}
	pl := p.planFor(tool)
	if p.defaultDeny && !pl.listed {
		return false, false
	}
	return len(pl.approvals) > 0, len(pl.charges) > 0
}
