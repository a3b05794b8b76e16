package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// signatureAlgorithms are the JWS algorithms Tollgate accepts: asymmetric
// only, so that a public JWKS can never be used as an HMAC secret.
var signatureAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// JWTOptions configure NewJWT.
type JWTOptions struct {
	// JWKS is the URL (http:// or https://) or the file path of the JSON Web
	// Key Set whose keys sign valid tokens. Required.
	JWKS string
	// Issuer, when set, must equal the token's iss claim.
	Issuer string
	// Audience, when set, must be among the token's aud values. Set it to
	// this resource's URL so that tokens minted for other services fail.
	Audience string
	// Leeway tolerates clock skew on exp, nbf and iat; 0 means one minute.
	Leeway time.Duration
	// Refresh is how old the key set of a JWKS URL may grow: the first token
	// after that refetches it, so that a key removed from the JWKS stops
	// being accepted. 0 means five minutes.
	Refresh time.Duration
	// MinRefresh is the least time between two fetches of a JWKS URL,
	// whatever asks for one (a token with an unknown key id, a stale set, a
	// fetch that failed): made-up key ids cannot make Tollgate hammer the
	// URL. 0 means 30 seconds (or Refresh, when that is shorter).
	MinRefresh time.Duration
	// HTTPClient fetches a JWKS URL; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// JWT verifies bearer JWTs against a JWKS; the identity is the sub claim.
// It is safe for concurrent use.
type JWT struct {
	opts JWTOptions

	mu      sync.Mutex
	keys    jose.JSONWebKeySet
	fetched time.Time // when keys were loaded
	tried   time.Time // when a fetch was last started, successful or not
}

var _ Verifier = (*JWT)(nil)

// NewJWT loads the key set and returns the verifier. A key set that cannot
// be loaded is an error: better to fail at start-up than to refuse every
// client later.
func NewJWT(ctx context.Context, opts JWTOptions) (*JWT, error) {
	if opts.JWKS == "" {
		return nil, errors.New("jwt: a JWKS URL or file is required")
	}
	if opts.Leeway == 0 {
		opts.Leeway = time.Minute
	}
	if opts.Refresh == 0 {
		opts.Refresh = 5 * time.Minute
	}
	if opts.MinRefresh == 0 {
		opts.MinRefresh = min(30*time.Second, opts.Refresh)
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	j := &JWT{opts: opts, tried: opts.Now()}
	if err := j.load(ctx); err != nil {
		return nil, err
	}
	return j, nil
}

func (j *JWT) isURL() bool {
	return strings.HasPrefix(j.opts.JWKS, "https://") || strings.HasPrefix(j.opts.JWKS, "http://")
}

// load (re)reads the key set. Called without j.mu held.
func (j *JWT) load(ctx context.Context) error {
	var data []byte
	var err error
	if j.isURL() {
		data, err = j.fetch(ctx)
	} else {
		data, err = os.ReadFile(j.opts.JWKS)
	}
	if err != nil {
		return fmt.Errorf("jwt: load the JWKS: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		return fmt.Errorf("jwt: load the JWKS: %w", err)
	}
	if len(set.Keys) == 0 {
		return errors.New("jwt: load the JWKS: it has no keys")
	}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			return errors.New("jwt: load the JWKS: it holds a private or symmetric key; publish public keys only")
		}
	}
	j.mu.Lock()
	j.keys = set
	j.fetched = j.opts.Now()
	j.mu.Unlock()
	return nil
}

func (j *JWT) fetch(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.opts.JWKS, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := j.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET the JWKS: HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// claims are the claims Tollgate reads.
type claims struct {
	jwt.Claims
}

// Verify implements Verifier.
func (j *JWT) Verify(ctx context.Context, token string) (string, error) {
	if strings.Count(token, ".") != 2 {
		return "", ErrNotMine
	}
	tok, err := jwt.ParseSigned(token, signatureAlgorithms)
	if err != nil {
		return "", fmt.Errorf("jwt: %w: %w", ErrInvalidToken, err)
	}
	if len(tok.Headers) != 1 {
		return "", fmt.Errorf("jwt: %w: want exactly one signature", ErrInvalidToken)
	}
	key, err := j.key(ctx, tok.Headers[0].KeyID, tok.Headers[0].Algorithm)
	if err != nil {
		return "", err
	}
	var c claims
	if err := tok.Claims(key.Key, &c); err != nil {
		return "", fmt.Errorf("jwt: %w: %w", ErrInvalidToken, err)
	}
	exp := jwt.Expected{Issuer: j.opts.Issuer, Time: j.opts.Now()}
	if j.opts.Audience != "" {
		exp.AnyAudience = jwt.Audience{j.opts.Audience}
	}
	if err := c.ValidateWithLeeway(exp, j.opts.Leeway); err != nil {
		return "", fmt.Errorf("jwt: %w: %w", ErrInvalidToken, err)
	}
	if c.Expiry == nil {
		return "", fmt.Errorf("jwt: %w: no exp claim", ErrInvalidToken)
	}
	if c.Subject == "" {
		return "", fmt.Errorf("jwt: %w: no sub claim", ErrInvalidToken)
	}
	return c.Subject, nil
}

// key finds the verification key for a key id. A JWKS URL is fetched again
// when its set is older than Refresh or holds no such key (keys rotate), but
// never twice within MinRefresh, and by one caller at a time: the others go
// on with the keys they have. A failed refetch keeps the old set.
func (j *JWT) key(ctx context.Context, kid, alg string) (jose.JSONWebKey, error) {
	k, ok := j.lookup(kid, alg)
	if j.claimRefresh(ok) {
		// The fetch outlives a client that hangs up: it is for every client.
		if err := j.load(context.WithoutCancel(ctx)); err != nil && !ok {
			return jose.JSONWebKey{}, fmt.Errorf("jwt: %w: unknown key and %w", ErrInvalidToken, err)
		}
		k, ok = j.lookup(kid, alg)
	}
	if !ok {
		return jose.JSONWebKey{}, fmt.Errorf("jwt: %w: no key %q in the JWKS", ErrInvalidToken, kid)
	}
	return k, nil
}

// claimRefresh reports whether the caller should fetch the JWKS now, and if
// so records the attempt, so that no other caller starts one.
func (j *JWT) claimRefresh(found bool) bool {
	if !j.isURL() {
		return false
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	now := j.opts.Now()
	if now.Sub(j.tried) < j.opts.MinRefresh {
		return false
	}
	if found && now.Sub(j.fetched) < j.opts.Refresh {
		return false
	}
	j.tried = now
	return true
}

func (j *JWT) lookup(kid, alg string) (jose.JSONWebKey, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var cands []jose.JSONWebKey
	if kid != "" {
		cands = j.keys.Key(kid)
	} else {
		cands = j.keys.Keys
	}
	for _, k := range cands {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		if kid == "" && len(cands) > 1 {
			return jose.JSONWebKey{}, false // ambiguous without a kid
		}
		return k, true
	}
	return jose.JSONWebKey{}, false
}
