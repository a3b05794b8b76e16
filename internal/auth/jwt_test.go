package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// testKeys are the signing keys the tests use, made once (RSA is slow).
var testKeys = sync.OnceValue(func() (k struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
	ed        ed25519.PrivateKey
}) {
	k.rsa, _ = rsa.GenerateKey(rand.Reader, 2048)
	k.rsa2, _ = rsa.GenerateKey(rand.Reader, 2048)
	k.ec, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
	return k
})

// fakeClock is a settable clock for JWTOptions.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// jwk is the public JWK of a private key.
func jwk(priv crypto.Signer, kid string, alg jose.SignatureAlgorithm) jose.JSONWebKey {
	return jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"}
}

// sign makes a token with the given header algorithm and kid, signed with key.
func sign(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, c jwt.Claims, extra map[jose.HeaderKey]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for k, v := range extra {
		opts = opts.WithHeader(k, v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned makes an "alg: none" token.
func unsigned(header string, c jwt.Claims) string {
	b64 := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(c)
	return b64([]byte(header)) + "." + b64(payload) + "."
}

func validClaims(now time.Time) jwt.Claims {
	return jwt.Claims{
		Subject:  "alice",
		Issuer:   "https://issuer.test",
		Audience: jwt.Audience{"https://mcp.test/mcp"},
		Expiry:   jwt.NewNumericDate(now.Add(time.Hour)),
		IssuedAt: jwt.NewNumericDate(now),
	}
}

// jwksServer serves a key set that the test can change, on 127.0.0.1, and
// counts the GETs.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	set  jose.JSONWebKeySet
	fail bool
	gets atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	j := &jwksServer{set: jose.JSONWebKeySet{Keys: keys}}
	j.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		j.gets.Add(1)
		j.mu.Lock()
		defer j.mu.Unlock()
		if j.fail {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		json.NewEncoder(w).Encode(j.set)
	}))
	t.Cleanup(j.Close)
	return j
}

func (j *jwksServer) serve(fail bool, keys ...jose.JSONWebKey) {
	j.mu.Lock()
	j.set, j.fail = jose.JSONWebKeySet{Keys: keys}, fail
	j.mu.Unlock()
}

// TestJWTRefusesAlgorithmConfusion: every way of getting a token accepted
// without the issuer's private key fails with ErrInvalidToken.
func TestJWTRefusesAlgorithmConfusion(t *testing.T) {
	k := testKeys()
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	c := validClaims(clock.Now())
	srv := newJWKSServer(t, jwk(k.rsa, "rsa1", ""), jwk(k.ec, "ec1", jose.ES256), jwk(k.ed, "ed1", ""))
	attacker := newJWKSServer(t, jwk(k.rsa2, "rsa1", ""))
	v, err := NewJWT(context.Background(), JWTOptions{JWKS: srv.URL, Issuer: c.Issuer, Audience: c.Audience[0], Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}

	rsaDER, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	rsaPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaDER})
	ecDER, _ := x509.MarshalPKIXPublicKey(&k.ec.PublicKey)
	rsaJWK, _ := json.Marshal(jwk(k.rsa, "rsa1", ""))
	evilJWK := jwk(k.rsa2, "rsa1", "")
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, token string
	}{
		{"HS256 keyed with the RSA public key (PEM)", sign(t, jose.HS256, rsaPEM, "rsa1", c, nil)},
		{"HS256 keyed with the RSA public key (DER)", sign(t, jose.HS256, rsaDER, "rsa1", c, nil)},
		{"HS256 keyed with the RSA public JWK", sign(t, jose.HS256, rsaJWK, "rsa1", c, nil)},
		{"HS512 keyed with the EC public key", sign(t, jose.HS512, ecDER, "ec1", c, nil)},
		{"alg none", unsigned(`{"alg":"none","kid":"rsa1","typ":"JWT"}`, c)},
		{"alg None", unsigned(`{"alg":"None","kid":"rsa1"}`, c)},
		{"alg none without a kid", unsigned(`{"alg":"none"}`, c)},
		{"ES256 header naming the RSA key", sign(t, jose.ES256, k.ec, "rsa1", c, nil)},
		{"RS256 header naming the EC key", sign(t, jose.RS256, k.rsa, "ec1", c, nil)},
		{"EdDSA header naming the RSA key", sign(t, jose.EdDSA, k.ed, "rsa1", c, nil)},
		{"ES384 where the JWKS says ES256 for the EC key", sign(t, jose.ES384, p384, "ec1", c, nil)},
		{"kid not in the JWKS", sign(t, jose.RS256, k.rsa, "nope", c, nil)},
		{"the kid of a real key, signed by another", sign(t, jose.RS256, k.rsa2, "rsa1", c, nil)},
		{"no kid with several keys in the JWKS", sign(t, jose.RS256, k.rsa, "", c, nil)},
		{"the attacker's key embedded in the header", sign(t, jose.RS256, jose.JSONWebKey{Key: k.rsa2, KeyID: "rsa1"}, "", c, map[jose.HeaderKey]any{"jwk": evilJWK})},
		{"jku pointing at the attacker's JWKS", sign(t, jose.RS256, k.rsa2, "rsa1", c, map[jose.HeaderKey]any{"jku": attacker.URL})},
		{"x5u pointing at the attacker", sign(t, jose.RS256, k.rsa2, "rsa1", c, map[jose.HeaderKey]any{"x5u": attacker.URL})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tt.token)
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %q, %v; want ErrInvalidToken", id, err)
			}
		})
	}
	if n := attacker.gets.Load(); n != 0 {
		t.Errorf("the attacker's JWKS was fetched %d times", n)
	}

	// The same keys do verify tokens signed properly, so the refusals above
	// are about the confusion, not a broken setup.
	for _, tt := range []struct {
		name  string
		alg   jose.SignatureAlgorithm
		key   any
		kid   string
		extra map[jose.HeaderKey]any
	}{
		{"RS256", jose.RS256, k.rsa, "rsa1", nil},
		{"PS512 on the same RSA key", jose.PS512, k.rsa, "rsa1", nil},
		{"ES256", jose.ES256, k.ec, "ec1", nil},
		{"EdDSA", jose.EdDSA, k.ed, "ed1", nil},
	} {
		t.Run("accepts "+tt.name, func(t *testing.T) {
			if id, err := v.Verify(context.Background(), sign(t, tt.alg, tt.key, tt.kid, c, tt.extra)); err != nil || id != "alice" {
				t.Fatalf("Verify = %q, %v; want alice", id, err)
			}
		})
	}
}

// TestJWTRefusesSymmetricKeySets: a JWKS that publishes an HMAC secret (or
// a private key) is refused at start-up.
func TestJWTRefusesSymmetricKeySets(t *testing.T) {
	k := testKeys()
	for name, key := range map[string]jose.JSONWebKey{
		"oct":         {Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "h", Algorithm: "HS256"},
		"private RSA": {Key: k.rsa, KeyID: "r"},
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "jwks.json")
			data, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key}})
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(file, data, 0o600)
			if _, err := NewJWT(context.Background(), JWTOptions{JWKS: file}); err == nil {
				t.Fatal("NewJWT accepted the key set")
			}
		})
	}
}

func TestJWTChecksClaims(t *testing.T) {
	k := testKeys()
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	srv := newJWKSServer(t, jwk(k.ec, "ec1", ""))
	good := validClaims(clock.Now())
	v, err := NewJWT(context.Background(), JWTOptions{JWKS: srv.URL, Issuer: good.Issuer, Audience: good.Audience[0], Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(c *jwt.Claims){
		"expired":            func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(clock.Now().Add(-2 * time.Minute)) },
		"no exp":             func(c *jwt.Claims) { c.Expiry = nil },
		"not yet valid":      func(c *jwt.Claims) { c.NotBefore = jwt.NewNumericDate(clock.Now().Add(2 * time.Minute)) },
		"another issuer":     func(c *jwt.Claims) { c.Issuer = "https://evil.test" },
		"another audience":   func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://other.test/mcp"} },
		"no sub":             func(c *jwt.Claims) { c.Subject = "" },
		"issued in a minute": func(c *jwt.Claims) { c.IssuedAt = jwt.NewNumericDate(clock.Now().Add(2 * time.Minute)) },
	} {
		t.Run(name, func(t *testing.T) {
			c := good
			change(&c)
			if id, err := v.Verify(context.Background(), sign(t, jose.ES256, k.ec, "ec1", c, nil)); !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("Verify = %q, %v; want ErrInvalidToken", id, err)
			}
		})
	}
}

// TestJWTPicksUpRotatedKeys: a key added to the JWKS is picked up on its
// first token (an unknown kid), a key removed stops working once the set is
// older than Refresh, and a key replaced under the same kid likewise.
func TestJWTPicksUpRotatedKeys(t *testing.T) {
	k := testKeys()
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	srv := newJWKSServer(t, jwk(k.rsa, "old", ""))
	v, err := NewJWT(context.Background(), JWTOptions{
		JWKS: srv.URL, Refresh: 10 * time.Minute, MinRefresh: time.Minute, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(key any, alg jose.SignatureAlgorithm, kid string) error {
		_, err := v.Verify(context.Background(), sign(t, alg, key, kid, validClaims(clock.Now()), nil))
		return err
	}
	if err := verify(k.rsa, jose.RS256, "old"); err != nil {
		t.Fatalf("the start-up key: %v", err)
	}

	// A new key, published beside the old one: its first token fetches the
	// set again (once MinRefresh has passed since the last fetch).
	srv.serve(false, jwk(k.rsa, "old", ""), jwk(k.ec, "new", ""))
	clock.Add(time.Minute)
	if err := verify(k.ec, jose.ES256, "new"); err != nil {
		t.Fatalf("a key added to the JWKS: %v", err)
	}
	if n := srv.gets.Load(); n != 2 {
		t.Errorf("%d fetches, want 2 (start-up and the unknown kid)", n)
	}

	// The old key is withdrawn: accepted while the set is fresh, refused once
	// it is older than Refresh, without waiting for an unknown kid.
	srv.serve(false, jwk(k.ec, "new", ""))
	clock.Add(9 * time.Minute)
	if err := verify(k.rsa, jose.RS256, "old"); err != nil {
		t.Fatalf("the old key within Refresh: %v", err)
	}
	clock.Add(time.Minute)
	if err := verify(k.rsa, jose.RS256, "old"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a withdrawn key after Refresh: %v, want ErrInvalidToken", err)
	}
	if err := verify(k.ec, jose.ES256, "new"); err != nil {
		t.Fatalf("the new key after the refresh: %v", err)
	}

	// A key replaced under the same kid.
	srv.serve(false, jwk(k.ed, "new", ""))
	clock.Add(10 * time.Minute)
	if err := verify(k.ec, jose.ES256, "new"); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a replaced key after Refresh: %v, want ErrInvalidToken", err)
	}
	if err := verify(k.ed, jose.EdDSA, "new"); err != nil {
		t.Fatalf("the replacement key: %v", err)
	}

	// A JWKS that is down keeps the last set in use.
	srv.serve(true)
	clock.Add(10 * time.Minute)
	if err := verify(k.ed, jose.EdDSA, "new"); err != nil {
		t.Fatalf("the last key while the JWKS is down: %v", err)
	}
}

// TestJWTRefreshIsRateLimited: tokens with made-up key ids, or a JWKS that
// fails, make Tollgate fetch at most once per MinRefresh, even from many
// goroutines at once.
func TestJWTRefreshIsRateLimited(t *testing.T) {
	k := testKeys()
	clock := &fakeClock{now: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	srv := newJWKSServer(t, jwk(k.rsa, "real", ""))
	v, err := NewJWT(context.Background(), JWTOptions{
		JWKS: srv.URL, Refresh: 10 * time.Minute, MinRefresh: time.Minute, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	tokens := make([]string, 50)
	for i := range tokens {
		tokens[i] = sign(t, jose.ES256, k.ec, "made-up-"+strings.Repeat("x", i), validClaims(clock.Now()), nil)
	}
	attack := func() {
		var wg sync.WaitGroup
		for _, tok := range tokens {
			wg.Go(func() {
				if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
					t.Errorf("a made-up kid: %v, want ErrInvalidToken", err)
				}
			})
		}
		wg.Wait()
	}
	attack()
	if n := srv.gets.Load(); n != 1 {
		t.Fatalf("%d fetches within MinRefresh of start-up, want 1", n)
	}
	clock.Add(time.Minute)
	attack()
	if n := srv.gets.Load(); n != 2 {
		t.Fatalf("%d fetches after one MinRefresh, want 2", n)
	}
	srv.serve(true)
	clock.Add(time.Minute)
	attack()
	attack()
	if n := srv.gets.Load(); n != 3 {
		t.Fatalf("%d fetches with the JWKS failing, want 3 (a failed fetch counts)", n)
	}
	if _, err := v.Verify(context.Background(), sign(t, jose.RS256, k.rsa, "real", validClaims(clock.Now()), nil)); err != nil {
		t.Fatalf("the real key while the JWKS is down: %v", err)
	}
}
