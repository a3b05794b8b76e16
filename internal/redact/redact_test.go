package redact

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"memory", "memory"},
		{"redis://:pw@cache:6379/0", "redis://cache:6379/0"},
		{"redis://user:pw@cache:6379/0", "redis://cache:6379/0"},
		{"rediss://user:pw@cache:6380/1?tls=1", "rediss://cache:6380/1?…"},
		{"redis://user:p@ss@cache:6379", "redis://cache:6379"},
		{"redis://user:pa ss@cache:6379", "redis://…"}, // does not parse
		{"redis://us%zzer:pw@cache", "redis://…"},
		{"sqlite:///var/lib/t.db", "sqlite:///var/lib/t.db"},
		{"sqlite:///var/lib/t.db?_pragma=key(s3cret)", "sqlite:///var/lib/t.db?…"},
		{"sqlite://state.db?key=s3cret#frag", "sqlite://state.db?…"},
		{"https://tok@mcp.example.com/mcp?k=s", "https://mcp.example.com/mcp?…"},
		{"https://mcp.example.com/mcp#tok", "https://mcp.example.com/mcp"},
		{"user:pw@cache:6379", "…"},
		{"cache:6379?password=pw", "…"},
		{"redis:user:pw@cache", "…"}, // opaque
		{"/var/lib/state.db", "/var/lib/state.db"},
	} {
		got := URL(tc.in)
		if got != tc.want {
			t.Errorf("URL(%q) = %q, want %q", tc.in, got, tc.want)
		}
		for _, secret := range []string{"pw", "s3cret", "tok", "p@ss", "pa ss"} {
			if strings.Contains(got, secret) {
				t.Errorf("URL(%q) = %q keeps %q", tc.in, got, secret)
			}
		}
	}
}

// A library's error that quotes the URL loses the secret, and stays the
// error it was for errors.Is and errors.As.
func TestError(t *testing.T) {
	spec := "redis://admin:pa ss@cache:6379/0"
	_, perr := url.Parse(spec) //lint:ignore SA1007 the point: a URL that does not parse
	if perr == nil {
		t.Fatal("the test URL parses")
	}
	err := Error(fmt.Errorf("open redis: %w", perr), spec)
	if strings.Contains(err.Error(), "pa ss") || strings.Contains(err.Error(), "admin") {
		t.Errorf("message keeps the credentials: %q", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("errors.As lost the *url.Error")
	}
	sentinel := errors.New("boom")
	if !errors.Is(Error(fmt.Errorf("x: %w", sentinel), spec), sentinel) {
		t.Error("errors.Is lost the sentinel")
	}
	if Error(nil, spec) != nil {
		t.Error("Error(nil) is not nil")
	}
	// Only the user info is quoted.
	if got := Error(errors.New(`bad userinfo "u:secret@"`), "redis://u:secret@h").Error(); strings.Contains(got, "secret") {
		t.Errorf("message keeps the password: %q", got)
	}
}
