package pins

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// A person's approval of a pin change is a signed statement when the
// policy lists approvers (approvals.approvers, the keys `tollgate
// approvals keygen` derives from a passphrase): the proxy trusts an
// approved pin only if its signature verifies, so an agent that can write
// the state store cannot approve a change by writing a record.

const (
	statementVersion = "tollgate-pin-v1"
	sigPrefix        = "ed25519:"
)

// ErrUnverified: an approved pin carries no valid signature by an approver
// the policy lists.
var ErrUnverified = errors.New("pin approval is not signed by a listed approver")

// Statement is what an approver signs to approve the definition hash of a
// server's kind name: one item per line.
func Statement(server string, kind Kind, name, hash, approver string) []byte {
	return []byte(statementVersion + "\n" + quoteLine(server) + "\n" + string(kind) + "\n" + quoteLine(name) + "\n" +
		hash + "\napprove\n" + approver)
}

// quoteLine keeps a statement one item per line whatever a name holds.
func quoteLine(s string) string {
	if strings.ContainsAny(s, "\n\r\\") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

// Sign signs the approval in the form Pin.Signature keeps.
func Sign(key ed25519.PrivateKey, server string, kind Kind, name, hash, approver string) string {
	return sigPrefix + base64.StdEncoding.EncodeToString(ed25519.Sign(key, Statement(server, kind, name, hash, approver)))
}

// Verify checks that an approved pin was approved by a person whose key
// approvers lists. A pin recorded on first use (no Approver) has nothing to
// verify: trust on first use is trust in whatever the server said first.
// Errors wrap ErrUnverified.
func Verify(approvers map[string]ed25519.PublicKey, p *Pin) error {
	if p.Approver == "" {
		return nil
	}
	pub, ok := approvers[p.Approver]
	if !ok {
		return fmt.Errorf("%w: approver %q of %s %q is not in the policy's approvals.approvers", ErrUnverified, p.Approver, p.Kind, p.Name)
	}
	b64, ok := strings.CutPrefix(p.Signature, sigPrefix)
	sig, err := base64.StdEncoding.DecodeString(b64)
	if !ok || err != nil || len(sig) != ed25519.SignatureSize {
		return fmt.Errorf("%w: %s %q has no valid signature", ErrUnverified, p.Kind, p.Name)
	}
	if !ed25519.Verify(pub, Statement(p.Server, p.Kind, p.Name, p.Hash, p.Approver), sig) {
		return fmt.Errorf("%w: the signature of %s %q does not verify", ErrUnverified, p.Kind, p.Name)
	}
	return nil
}
