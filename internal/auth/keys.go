package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// KeyPrefix starts every API key Tollgate makes, so that a leaked key is
// recognisable (secret scanners) and never taken for a JWT.
const KeyPrefix = "tg_"

// Key is one entry of an API key file: a name (the identity it proves) and
// the hex SHA-256 of the key. The key itself is never stored.
type Key struct {
	Name   string `yaml:"name"`
	SHA256 string `yaml:"sha256"`
}

// keyFile is the YAML form: keys: [{name: alice, sha256: <hex>}].
type keyFile struct {
	Keys []Key `yaml:"keys"`
}

// Keys verifies API keys against the hashes of a key file. It is immutable
// and safe for concurrent use.
type Keys struct {
	names  []string
	hashes [][sha256.Size]byte
}

var _ Verifier = (*Keys)(nil)

var namePattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$`) })

// LoadKeys reads an API key file. A malformed file, a bad name, a hash
// that is not 64 hex digits, or a name given twice is an error.
func LoadKeys(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load api keys: %w", err)
	}
	var f keyFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("load api keys %s: %w", path, err)
	}
	k := &Keys{}
	seen := map[string]bool{}
	for i, e := range f.Keys {
		if !namePattern().MatchString(e.Name) {
			return nil, fmt.Errorf("load api keys %s: key %d: name %q must be 1-128 letters, digits or ._@:-", path, i+1, e.Name)
		}
		if seen[e.Name] {
			return nil, fmt.Errorf("load api keys %s: name %q appears twice", path, e.Name)
		}
		seen[e.Name] = true
		h, err := hex.DecodeString(e.SHA256)
		if err != nil || len(h) != sha256.Size {
			return nil, fmt.Errorf("load api keys %s: key %q: sha256 must be 64 hex digits", path, e.Name)
		}
		k.names = append(k.names, e.Name)
		k.hashes = append(k.hashes, [sha256.Size]byte(h))
	}
	return k, nil
}

// Len returns the number of keys.
func (k *Keys) Len() int { return len(k.names) }

// Verify implements Verifier: it hashes the token and compares the hash
// with every stored one in constant time. A token that looks like a JWT is
// left to another verifier.
func (k *Keys) Verify(_ context.Context, token string) (string, error) {
	if strings.Count(token, ".") == 2 && !strings.HasPrefix(token, KeyPrefix) {
		return "", ErrNotMine
	}
	sum := sha256.Sum256([]byte(token))
	match := -1
	for i := range k.hashes {
		if subtle.ConstantTimeCompare(sum[:], k.hashes[i][:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return "", fmt.Errorf("api key: %w", ErrInvalidToken)
	}
	return k.names[match], nil
}

// HashKey returns the hex SHA-256 of a key, as a key file stores it.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// NewKey returns a fresh random API key: KeyPrefix and 256 random bits.
func NewKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return KeyPrefix + hex.EncodeToString(b[:])
}

// ErrKeyExists is returned by AddKey for a name the file already has.
var ErrKeyExists = errors.New("a key with this name already exists")

// AddKey makes a new key for name, stores its hash in the key file at path
// (created with mode 0600 when missing; the file is replaced atomically and
// keeps mode 0600), and returns the key. The key is not stored anywhere.
func AddKey(path, name string) (string, error) {
	if !namePattern().MatchString(name) {
		return "", fmt.Errorf("add api key: name %q must be 1-128 letters, digits or ._@:-", name)
	}
	var f keyFile
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := yaml.Unmarshal(data, &f); err != nil {
			return "", fmt.Errorf("add api key: read %s: %w", path, err)
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		return "", fmt.Errorf("add api key: %w", err)
	}
	for _, e := range f.Keys {
		if e.Name == name {
			return "", fmt.Errorf("add api key %q: %w", name, ErrKeyExists)
		}
	}
	key := NewKey()
	f.Keys = append(f.Keys, Key{Name: name, SHA256: HashKey(key)})
	out, err := yaml.Marshal(&f)
	if err != nil {
		return "", fmt.Errorf("add api key: %w", err)
	}
	out = append([]byte("# Tollgate API keys: names and SHA-256 hashes; the keys themselves are not stored.\n"), out...)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".keys-*.tmp")
	if err != nil {
		return "", fmt.Errorf("add api key: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", fmt.Errorf("add api key: %w", err)
	}
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return "", fmt.Errorf("add api key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("add api key: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", fmt.Errorf("add api key: %w", err)
	}
	return key, nil
}

// KeyNames returns the names in a key file, in file order.
func KeyNames(path string) ([]string, error) {
	k, err := LoadKeys(path)
	if err != nil {
		return nil, err
	}
	return append([]string(nil), k.names...), nil
}
