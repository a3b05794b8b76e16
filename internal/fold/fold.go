// Package fold reads a name as a lenient peer may read it. The MCP and
// JSON-RPC specifications compare method and tool names exactly, byte for
// byte; some servers do not: they look a name up without regard to case,
// trim it, drop control characters, or read it as a C string, up to its
// first NUL. Tollgate governs names exactly, so a name that such a server
// reads as a governed one, without being it, must be refused rather than
// let past the rules of the name it stands for.
package fold

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Name returns name as a lenient peer may read it: up to its first NUL,
// without control and format characters (Unicode Cc and Cf: zero-width
// spaces and joiners, direction marks, a byte-order mark), trimmed of white
// space, case folded ('ſ' reads as 's', the Kelvin sign as 'k', as a
// case-insensitive comparison reads them). Name does not allocate for a
// name of lower-case ASCII letters, digits, '_', '-', '.', '/' and '*'
// (which it returns as it is).
func Name(name string) string {
	if plain(name) {
		return name
	}
	if i := strings.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	var b strings.Builder
	b.Grow(len(name))
	for _, r := range name {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(unicode.ToUpper(r)))
	}
	return strings.TrimFunc(b.String(), unicode.IsSpace)
}

// plain reports whether name is its own fold.
func plain(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/' || c == '*') {
			return false
		}
	}
	return true
}
