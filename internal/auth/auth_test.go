package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeysVerify(t *testing.T) {
	file := filepath.Join(t.TempDir(), "k.yaml")
	a, err := AddKey(file, "alice")
	if err != nil {
		t.Fatal(err)
	}
	k, err := LoadKeys(file)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := k.Verify(context.Background(), a); err != nil || id != "alice" {
		t.Fatalf("Verify = %q, %v", id, err)
	}
	if _, err := k.Verify(context.Background(), a+"x"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a wrong key: %v, want ErrInvalidToken", err)
	}
	if _, err := k.Verify(context.Background(), "x.y.z"); !errors.Is(err, ErrNotMine) {
		t.Fatalf("a JWT: %v, want ErrNotMine", err)
	}
}

func TestLoadKeysRejects(t *testing.T) {
	for name, body := range map[string]string{
		"short hash": "keys: [{name: a, sha256: abcd}]",
		"bad name":   "keys: [{name: 'a b', sha256: " + strings.Repeat("0", 64) + "}]",
		"twice":      "keys: [{name: a, sha256: " + strings.Repeat("0", 64) + "}, {name: a, sha256: " + strings.Repeat("1", 64) + "}]",
		"not yaml":   "keys: [",
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "k.yaml")
			os.WriteFile(file, []byte(body), 0o600)
			if _, err := LoadKeys(file); err == nil {
				t.Fatal("loaded")
			}
		})
	}
}

func TestMiddlewareHidesTheCredential(t *testing.T) {
	file := filepath.Join(t.TempDir(), "k.yaml")
	key, _ := AddKey(file, "alice")
	k, _ := LoadKeys(file)
	var seenAuth, seenID string
	m := &Middleware{Verifiers: []Verifier{k}, ResourceMetadata: func(*http.Request) string { return "http://x/.well-known/oauth-protected-resource" }}
	h := m.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenAuth, seenID = r.Header.Get("Authorization"), Identity(r)
	}))
	req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || seenID != "alice" || seenAuth != "" {
		t.Fatalf("HTTP %d, identity %q, Authorization passed on: %q", rec.Code, seenID, seenAuth)
	}
	req = httptest.NewRequest(http.MethodPost, "/mcp", nil)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Header().Get("WWW-Authenticate"), `resource_metadata="http://x/.well-known/oauth-protected-resource"`) {
		t.Fatalf("HTTP %d, WWW-Authenticate %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestGuard(t *testing.T) {
	g := &Guard{Port: "8080", Loopback: true, Origins: []string{"https://app.example.com"}}
	h := g.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, tt := range []struct {
		host, origin string
		want         int
	}{
		{"127.0.0.1:8080", "", 200},
		{"localhost:8080", "http://localhost:8080", 200},
		{"[::1]:8080", "http://[::1]:8080", 200},
		{"127.0.0.1:8080", "http://127.0.0.1:9999", 403},
		{"127.0.0.1:8080", "https://evil.example.com", 403},
		{"evil.example.com:8080", "", 403},
		{"app.example.com", "https://app.example.com", 200},
	} {
		req := httptest.NewRequest(http.MethodPost, "http://"+tt.host+"/mcp", nil)
		req.Host = tt.host
		if tt.origin != "" {
			req.Header.Set("Origin", tt.origin)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tt.want {
			t.Errorf("Host %s Origin %q: HTTP %d, want %d", tt.host, tt.origin, rec.Code, tt.want)
		}
	}
	open := &Guard{Port: "8080", Loopback: false}
	req := httptest.NewRequest(http.MethodPost, "http://mcp.example.com/mcp", nil)
	rec := httptest.NewRecorder()
	open.Wrap(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("non-loopback front refused its own Host: %d", rec.Code)
	}
}
