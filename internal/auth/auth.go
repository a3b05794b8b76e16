// Package auth admits HTTP clients to Tollgate's HTTP front: it checks the
// Origin and Host of every request against DNS rebinding (Guard), verifies
// bearer credentials — API keys from a key file, or JWTs against a JWKS —
// (Middleware), answers 401 with the WWW-Authenticate challenge MCP clients
// follow, and serves the RFC 9728 protected-resource metadata. The
// authenticated identity travels in the request's context (Identity), from
// where the front sets the session's Identity. Credentials are never passed
// on: the middleware removes the Authorization header before the request
// reaches the handler.
package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

type identityKey struct{}

// WithIdentity returns ctx carrying the caller's identity.
func WithIdentity(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// Identity returns the identity Middleware authenticated for r, "" when
// none.
func Identity(r *http.Request) string {
	id, _ := r.Context().Value(identityKey{}).(string)
	return id
}

// Verifier checks one bearer token and returns whose it is.
type Verifier interface {
	// Verify returns the identity the token proves. ErrNotMine means the
	// token is not of this verifier's kind (another verifier may know it);
	// any other error means it is invalid.
	Verify(ctx context.Context, token string) (identity string, err error)
}

// ErrNotMine is returned by a Verifier for a token it does not handle.
var ErrNotMine = errors.New("not a credential of this kind")

// ErrInvalidToken is wrapped by errors for a credential that is wrong,
// expired or meant for another audience.
var ErrInvalidToken = errors.New("invalid token")

// Middleware requires a valid bearer credential on every request it wraps.
type Middleware struct {
	// Verifiers are tried in order; the first that does not return
	// ErrNotMine decides.
	Verifiers []Verifier
	// ResourceMetadata returns the URL of the protected-resource metadata
	// for r, named in the WWW-Authenticate challenge; nil or "" leaves it
	// out.
	ResourceMetadata func(r *http.Request) string
	// OnFailure, when set, is told of every refused request (for logs).
	OnFailure func(r *http.Request, err error)
}

// Wrap returns h behind the credential check. Requests without a valid
// credential are answered 401 and never reach h; h sees the request with
// its identity in the context and without its Authorization header.
func (m *Middleware) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearer(r)
		if !ok {
			m.challenge(w, r, "", errors.New("no bearer credential"))
			return
		}
		id, err := m.verify(r.Context(), token)
		if err != nil {
			m.challenge(w, r, "invalid_token", err)
			return
		}
		r = r.Clone(WithIdentity(r.Context(), id))
		r.Header.Del("Authorization")
		h.ServeHTTP(w, r)
	})
}

func (m *Middleware) verify(ctx context.Context, token string) (string, error) {
	for _, v := range m.Verifiers {
		id, err := v.Verify(ctx, token)
		if errors.Is(err, ErrNotMine) {
			continue
		}
		return id, err
	}
	return "", ErrInvalidToken
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	v := r.Header.Values("Authorization")
	if len(v) != 1 {
		return "", false
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(v[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// challenge answers 401 with a WWW-Authenticate header (RFC 6750, and the
// resource_metadata parameter of RFC 9728) and a JSON-RPC error body.
func (m *Middleware) challenge(w http.ResponseWriter, r *http.Request, code string, err error) {
	if m.OnFailure != nil {
		m.OnFailure(r, err)
	}
	c := `Bearer realm="tollgate"`
	if code != "" {
		c += `, error="` + code + `", error_description="the bearer credential is not valid"`
	}
	if m.ResourceMetadata != nil {
		if u := m.ResourceMetadata(r); u != "" {
			c += `, resource_metadata="` + u + `"`
		}
	}
	w.Header().Set("WWW-Authenticate", c)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"unauthorized: a valid bearer credential is required"}}`))
}
