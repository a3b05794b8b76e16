package streamhttp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The fast paths of accepts and mediaTypeOf decide exactly as the parsing
// they skip: a client cannot get a different answer by spelling a header
// the way the fast path expects.
func TestHeaderFastPathsMatchParsing(t *testing.T) {
	for _, v := range []string{
		"application/json", "text/event-stream", "Application/JSON", "application/json; charset=utf-8",
		"text/event-stream;", "application/jsonx", "", " application/json", "application/json, text/event-stream",
		"text/event-stream, application/json", "*/*", "application/*", "text/html",
	} {
		if got, want := mediaTypeOf(v), parseMediaType(v); got != want {
			t.Errorf("mediaTypeOf(%q) = %q, parsing says %q", v, got, want)
		}
		r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		r.Header.Set("Accept", v)
		json, sse := accepts(r)
		r.Header["Accept"] = []string{v + ", x/y"} // not the fast path's shape
		wantJSON, wantSSE := accepts(r)
		if json != wantJSON || sse != wantSSE {
			t.Errorf("accepts(%q) = %v, %v; parsing says %v, %v", v, json, sse, wantJSON, wantSSE)
		}
	}
}

// readBody trusts a Content-Length only within the limit, and refuses a
// body that goes on past it.
func TestReadBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		length  int64
		limit   int
		want    string
		wantErr bool
	}{
		{"declared", `{"a":1}`, 7, 100, `{"a":1}`, false},
		{"undeclared", `{"a":1}`, -1, 100, `{"a":1}`, false},
		{"declared over the limit", `{"a":1}`, 7, 3, `{"a"`, false}, // limit+1 bytes: the caller sees it is too long
		{"longer than declared", `{"a":1}xx`, 7, 100, "", true},
		{"shorter than declared", `{"a"`, 7, 100, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := readBody(strings.NewReader(tt.body), tt.length, tt.limit)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && string(b) != tt.want {
				t.Errorf("read %q, want %q", b, tt.want)
			}
		})
	}
}
