package policy

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/approval"
)

func TestApprovers(t *testing.T) {
	pa, _, _ := ed25519.GenerateKey(nil)
	pb, _, _ := ed25519.GenerateKey(nil)
	ka, kb := approval.FormatPublicKey(pa), approval.FormatPublicKey(pb)
	p := mustLoad(t, "version: \"1\"\napprovals:\n  approvers:\n    alice: "+ka+"\n    bob.smith@example.com: \""+kb+"\"\n")
	got := p.Approvals().Approvers
	if len(got) != 2 || !got["alice"].Equal(pa) || !got["bob.smith@example.com"].Equal(pb) {
		t.Fatalf("Approvers = %v", got)
	}
	if a := mustLoad(t, "version: \"1\"\napprovals:\n  inline: true\n").Approvals().Approvers; a != nil {
		t.Fatalf("no approvers section: %v", a)
	}
}

func TestApproversErrors(t *testing.T) {
	pa, _, _ := ed25519.GenerateKey(nil)
	ka := approval.FormatPublicKey(pa)
	for _, tc := range []struct {
		name, src, want string
	}{
		{"not a mapping", "approvals:\n  approvers: [alice]\n", `policy.yaml:3:14: approvals.approvers must be a mapping`},
		{"bad prefix", "approvals:\n  approvers:\n    alice: rsa:AAAA\n", `policy.yaml:4:12: approvals.approvers.alice: parse approver key: want "ed25519:"`},
		{"bad base64", "approvals:\n  approvers:\n    alice: ed25519:%%%\n", `policy.yaml:4:12: approvals.approvers.alice: parse approver key: illegal base64`},
		{"short key", "approvals:\n  approvers:\n    alice: ed25519:AAAA\n", `policy.yaml:4:12: approvals.approvers.alice: parse approver key: 3 bytes, want 32`},
		{"not a string", "approvals:\n  approvers:\n    alice: [1]\n", `policy.yaml:4:12: approvals.approvers.alice must be a string`},
		{"bad name", "approvals:\n  approvers:\n    \"al ice\": " + ka + "\n", `policy.yaml:4:5: approver name "al ice"`},
		{"duplicate name", "approvals:\n  approvers:\n    alice: " + ka + "\n    alice: " + ka + "\n", `policy.yaml:5:5: duplicate key "alice"`},
		{"one key, two names", "approvals:\n  approvers:\n    alice: " + ka + "\n    bob: " + ka + "\n", `policy.yaml:5:10: approvals.approvers.bob has the same key as alice`},
		{"misspelt", "approvals:\n  aprovers:\n    alice: " + ka + "\n", `policy.yaml:3:3: unknown key "aprovers" in approvals (did you mean "approvers"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("policy.yaml", []byte("version: \"1\"\n"+tc.src))
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("Load = %v, want a LoadError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load error:\n%v\nwant it to contain:\n%s", err, tc.want)
			}
		})
	}
}
