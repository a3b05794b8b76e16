package approval

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/apd/v3"
)

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
	for _, f := range [...][]byte{[]byte("tollgate-approval/v1"), []byte(c.Tool), canon, []byte(c.Rule), []byte(c.PolicyRev)} {
		fmt.Fprintf(h, "%d:", len(f))
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil)), "sha256:" + hex.EncodeToString(ah[:]), nil
}

// Canonical returns the canonical JSON text of v: objects with keys sorted
// by their UTF-8 bytes, no whitespace, strings with the minimal escapes of
// Go's encoder (HTML escaping off), numbers as their exact decimal value in
// the form <integer coefficient without trailing zeros>[e<exponent>], and
// -0 as 0. An empty v is the empty object.
func Canonical(v []byte) ([]byte, error) {
	if len(bytes.TrimSpace(v)) == 0 {
		return []byte("{}"), nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, fmt.Errorf("canonical JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("canonical JSON: trailing data after the value")
	}
	var buf bytes.Buffer
	if err := appendCanonical(&buf, x); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func appendCanonical(buf *bytes.Buffer, x any) error {
	switch v := x.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if v {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		s, err := canonicalNumber(string(v))
		if err != nil {
			return err
		}
		buf.WriteString(s)
	case string:
		appendString(buf, v)
	case []any:
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := appendCanonical(buf, e); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			appendString(buf, k)
			buf.WriteByte(':')
			if err := appendCanonical(buf, v[k]); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		return fmt.Errorf("canonical JSON: unexpected %T", x)
	}
	return nil
}

func appendString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)           // a string always encodes
	buf.Truncate(buf.Len() - 1) // Encode's newline
}

// canonicalNumber renders a JSON number literal by its exact value.
func canonicalNumber(lit string) (string, error) {
	var d apd.Decimal
	if _, _, err := d.SetString(lit); err != nil {
		// Beyond apd's exponent range: no decoder reads such a number as
		// anything else, so its own spelling (lower-cased) stands for it.
		return strings.ToLower(lit), nil
	}
	if d.IsZero() {
		return "0", nil
	}
	d.Reduce(&d)
	coef := d.Coeff.String()
	var sb strings.Builder
	if d.Negative {
		sb.WriteByte('-')
	}
	sb.WriteString(coef)
	if d.Exponent != 0 {
		fmt.Fprintf(&sb, "e%d", d.Exponent)
	}
	return sb.String(), nil
}
