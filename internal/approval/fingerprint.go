package approval

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/tollgate-mcp/tollgate/internal/canonjson"
)

// FingerprintVersion starts every fingerprint's input. v2: the arguments
// are canonical JSON as internal/canonjson spells it (v1 spelled numbers as
// coefficient and exponent, "1e2", with its own encoder).
const FingerprintVersion = "tollgate-approval/v2"

// Call is what an approval is bound to.
type Call struct {
	Tool      string
	Args      []byte // the raw arguments object
	Rule      string
	PolicyRev string
}

// Fingerprint returns the hex SHA-256 that binds an approval to c, and the
// "sha256:<hex>" hash of the canonical arguments alone. Two calls have the
// same fingerprint exactly when they name the same tool, rule and policy
// revision and their arguments are equal as JSON values: object key order,
// insignificant whitespace, string escapes (\u00e9 and é) and number
// spelling (1, 1.0, 1e0, 10e-1) do not matter; any changed value, added or
// removed key, or reordered array does.
func Fingerprint(c Call) (fp, argsHash string, err error) {
	canon, err := Canonical(c.Args)
	if err != nil {
		return "", "", fmt.Errorf("fingerprint the arguments of %q: %w", c.Tool, err)
	}
	ah := sha256.Sum256(canon)
	h := sha256.New()
	// Length-prefixed fields: no choice of names can collide with another.
	for _, f := range [...][]byte{[]byte(FingerprintVersion), []byte(c.Tool), canon, []byte(c.Rule), []byte(c.PolicyRev)} {
		fmt.Fprintf(h, "%d:", len(f))
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil)), "sha256:" + hex.EncodeToString(ah[:]), nil
}

// Canonical returns the canonical JSON text of v as internal/canonjson
// defines it (the audit's args_sha256 uses the same bytes). An empty v is
// the empty object.
func Canonical(v []byte) ([]byte, error) {
	b, err := canonjson.Canonical(v)
	if err != nil {
		return nil, fmt.Errorf("canonical JSON: %w", err)
	}
	return b, nil
}
