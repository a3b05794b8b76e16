package approval

// Approver keys: an approval is honoured only when a person signed it with a
// key the policy lists (issue 13). The agent usually runs as the same OS user
// as the person, so everything on disk (the state file, Redis credentials,
// the admin token) is within its reach; the private key is not on disk: it
// is derived from a passphrase each time it is needed.

import (
	"crypto/ed25519"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

const (
	// KeyIterations is the PBKDF2-SHA256 work factor of DeriveKey (OWASP's
	// 2023 figure for PBKDF2-HMAC-SHA256).
	KeyIterations = 600_000
	// MinPassphrase is the shortest passphrase DeriveKey accepts, in bytes.
	MinPassphrase = 12
	// keySalt prefixes the approver's name to make the salt: the same
	// passphrase gives every name its own key.
	keySalt = "tollgate-approver-v1:"
	// statementVersion starts every signed statement.
	statementVersion = "tollgate-approval-v1"
	keyPrefix        = "ed25519:"
)

// ErrUnverified: an approved record carries no valid signature by a key the
// policy lists under its approver's name. Errors from CheckDecision wrap it.
var ErrUnverified = errors.New("approval is not signed by a listed approver")

// ValidApproverName reports whether name can name an approver: 1 to 64
// letters, digits and ". _ @ -" (it goes into the signed statement, one
// line, so no spaces or line breaks).
func ValidApproverName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '@', c == '-':
		default:
			return false
		}
	}
	return true
}

// DeriveKey derives approver name's ed25519 key from their passphrase:
// PBKDF2-SHA256 over the passphrase with the salt "tollgate-approver-v1:"
// + name, KeyIterations rounds, as the key's seed. The same name and
// passphrase always give the same key, so nothing needs storing.
func DeriveKey(name, passphrase string) (ed25519.PrivateKey, error) {
	if !ValidApproverName(name) {
		return nil, fmt.Errorf("derive approver key: name %q must be 1 to 64 letters, digits, '.', '_', '@' or '-'", name)
	}
	if len(passphrase) < MinPassphrase {
		return nil, fmt.Errorf("derive approver key: the passphrase must be at least %d characters", MinPassphrase)
	}
	seed, err := pbkdf2.Key(sha256.New, passphrase, []byte(keySalt+name), KeyIterations, ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("derive approver key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// FormatPublicKey renders pub as the policy writes it: "ed25519:" and the
// standard base64 of its 32 bytes.
func FormatPublicKey(pub ed25519.PublicKey) string {
	return keyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey parses FormatPublicKey's form.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b64, ok := strings.CutPrefix(s, keyPrefix)
	if !ok {
		return nil, fmt.Errorf("parse approver key: want %q followed by base64, as `tollgate approvals keygen` prints", keyPrefix)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("parse approver key: %w", err)
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("parse approver key: %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// Statement is what an approver signs to approve record r: the version,
// the approval id, the fingerprint of the call, the decision, the
// approver's name and the record's expiry (UTC, millisecond precision, as
// stores keep it), one per line.
func Statement(id, fingerprint, approver string, expires time.Time) []byte {
	return []byte(statementVersion + "\n" + id + "\n" + fingerprint + "\napprove\n" + approver + "\n" +
		Millis(expires).Format(time.RFC3339Nano))
}

// ErrAltered: a record's fingerprint is not that of the call it shows, or
// it lives longer than the policy lets a record live. Tollgate never writes
// such a record; the store is within the agent's reach, so one was written
// by someone else. Errors from CheckShown and CheckExpiry wrap it.
var ErrAltered = errors.New("approval record was altered")

// ClockSlack is how far ahead of a signer's or a proxy's clock a record's
// expiry may be beyond the policy's timeout: the clocks of the processes
// that share a store.
const ClockSlack = time.Minute

// CheckShown checks that r's fingerprint is that of the call r shows (its
// tool, arguments, rule and policy revision). A person approves what a
// record shows; the proxy finds a record, and checks its signature, by the
// fingerprint. Had the fingerprint been changed to another call's, the
// person would sign a call they were never shown, so nothing signs, and no
// proxy honours, a record that fails this check.
func CheckShown(r Record) error {
	fp, _, err := Fingerprint(Call{Tool: r.Tool, Args: []byte(r.Args), Rule: r.Rule, PolicyRev: r.PolicyRev})
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrAltered, r.ID, err)
	}
	if fp != r.Fingerprint {
		return fmt.Errorf("%w: the fingerprint of %s is not that of the call it shows (tool, arguments, rule and policy revision); deny it, and look at what can write the state store", ErrAltered, r.ID)
	}
	return nil
}

// CheckExpiry checks that r expires no later than timeout (the policy's
// approvals.timeout) after now, give or take ClockSlack: a record Tollgate
// made at or before now does. A later expiry was written into the store to
// make an approval outlive the policy's timeout.
func CheckExpiry(r Record, now time.Time, timeout time.Duration) error {
	if r.ExpiresAt.After(now.Add(timeout + ClockSlack)) {
		return fmt.Errorf("%w: %s expires at %s, later than the policy's approvals.timeout (%s) allows", ErrAltered, r.ID,
			r.ExpiresAt.UTC().Format(time.RFC3339), timeout)
	}
	return nil
}

// SignDecision signs the approval of r by approver with key, in the form
// Record.Signature keeps: "ed25519:" and the base64 signature. It refuses a
// record whose fingerprint is not that of the call it shows (CheckShown):
// what is signed is always the call the approver was shown.
func SignDecision(key ed25519.PrivateKey, r Record, approver string) (string, error) {
	if err := CheckShown(r); err != nil {
		return "", fmt.Errorf("sign approval: %w", err)
	}
	sig := ed25519.Sign(key, Statement(r.ID, r.Fingerprint, approver, r.ExpiresAt))
	return keyPrefix + base64.StdEncoding.EncodeToString(sig), nil
}

// CheckDecision checks that approved record r carries a signature by the
// key approvers lists under r.Approver, over the statement for r's id, the
// fingerprint fp of the call being let through (not the fingerprint the
// record claims) and r's expiry. Errors wrap ErrUnverified.
func CheckDecision(approvers map[string]ed25519.PublicKey, fp string, r Record) error {
	if len(approvers) == 0 {
		return fmt.Errorf("%w: the policy lists no approvers (approvals.approvers)", ErrUnverified)
	}
	if r.Signature == "" {
		return fmt.Errorf("%w: %s has no signature", ErrUnverified, r.ID)
	}
	pub, ok := approvers[r.Approver]
	if !ok {
		return fmt.Errorf("%w: approver %q of %s is not in the policy's approvals.approvers", ErrUnverified, r.Approver, r.ID)
	}
	b64, ok := strings.CutPrefix(r.Signature, keyPrefix)
	sig, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: the signature of %s is malformed", ErrUnverified, r.ID)
	}
	if !ed25519.Verify(pub, Statement(r.ID, fp, r.Approver, r.ExpiresAt), sig) {
		return fmt.Errorf("%w: the signature of %s does not verify with %s's key for this call", ErrUnverified, r.ID, r.Approver)
	}
	return nil
}
