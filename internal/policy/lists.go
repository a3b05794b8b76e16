package policy

// HidesAny reports whether the hide list names any tool, so that a caller
// can pass tools/list results through untouched when it does not.
func (p *Policy) HidesAny() bool {
	return p.hideAll || len(p.hideExact) > 0 || len(p.hideGlobs) > 0
}

// UsesSchemas reports whether any rule validates required arguments, the one
// thing Decide needs a tool's inputSchema for.
func (p *Policy) UsesSchemas() bool {
	uses := func(pl *plan) bool {
		for _, r := range pl.checks {
			if r.validate {
				return true
			}
		}
		return false
	}
	if uses(p.fallback) {
		return true
	}
	for _, pl := range p.exact {
		if uses(pl) {
			return true
		}
	}
	for _, pl := range p.globs {
		if uses(pl) {
			return true
		}
	}
	return false
}
