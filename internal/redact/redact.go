// Package redact owns how Tollgate shows a URL or a DSN that may carry a
// secret (a state store's redis://user:pass@…, an upstream's
// https://token@…?key=…): in messages, logs, the audit trail and reports
// alike, through this one definition.
package redact

import (
	"net/url"
	"strings"
)

// URL returns s safe to print: the user info (user and password) and the
// fragment are removed and a query is shown as "?…"; scheme, host, port
// and path stay, so the reader still knows which store or server is meant.
// A string that does not parse as a URL keeps only its scheme
// ("redis://…"), and one without a scheme is kept only when it cannot hold
// a credential (no '@', ':', '?' or '#': a plain name such as "memory").
func URL(s string) string {
	if s == "" {
		return s
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		if i := strings.Index(s, "://"); i > 0 && !strings.ContainsAny(s[:i], "@:/?#") {
			return s[:i] + "://…"
		}
		if strings.ContainsAny(s, "@:?#") {
			return "…"
		}
		return s
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	query := u.RawQuery != "" || u.ForceQuery
	u.RawQuery, u.ForceQuery = "", false
	out := u.String()
	if query {
		out += "?…"
	}
	return out
}

// Error returns err with every appearance of s (and of the user info in
// it) in its message replaced as URL replaces it; errors.Is and errors.As
// still see err. Libraries quote a URL they fail to parse, password and
// all: pass their errors through this before printing them.
func Error(err error, s string) error {
	if err == nil || s == "" {
		return err
	}
	return &scrubbed{err: err, s: s}
}

type scrubbed struct {
	err error
	s   string
}

func (e *scrubbed) Error() string {
	msg := strings.ReplaceAll(e.err.Error(), e.s, URL(e.s))
	if _, rest, ok := strings.Cut(e.s, "://"); ok {
		if userinfo, _, ok := cutLast(rest, "@"); ok && userinfo != "" {
			msg = strings.ReplaceAll(msg, userinfo+"@", "")
		}
	}
	return msg
}

func (e *scrubbed) Unwrap() error { return e.err }

// cutLast is strings.Cut at the last sep (a password may hold '@').
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}
