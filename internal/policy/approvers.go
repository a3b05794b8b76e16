package policy

import (
	"crypto/ed25519"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-mcp/tollgate/internal/approval"
)

// approvers reads approvals.approvers: a mapping from an approver's name to
// the public key `tollgate approvals keygen` printed for them.
//
//	approvals:
//	  approvers:
//	    alice: ed25519:BASE64
func (l *loader) approvers(p *Policy, n *yaml.Node) {
	if isNull(n) {
		return
	}
	keys := map[string]ed25519.PublicKey{}
	owner := map[string]string{} // public key → first name listing it
	for _, f := range l.pairs(n, "approvals.approvers") {
		name := deref(f.key).Value
		if !approval.ValidApproverName(name) {
			l.errf(f.key, "approver name %q must be 1 to 64 letters, digits, '.', '_', '@' or '-'", name)
			continue
		}
		s, ok := l.str(f.val, "approvals.approvers."+name)
		if !ok {
			continue
		}
		pub, err := approval.ParsePublicKey(s)
		if err != nil {
			l.errf(deref(f.val), "approvals.approvers.%s: %v", name, err)
			continue
		}
		if other, dup := owner[string(pub)]; dup {
			// One key under two names would let one person approve as two.
			l.errf(deref(f.val), "approvals.approvers.%s has the same key as %s; run keygen with --name %s", name, other, name)
			continue
		}
		owner[string(pub)] = name
		keys[name] = pub
	}
	if len(keys) > 0 {
		p.approvals.Approvers = keys
	}
}
