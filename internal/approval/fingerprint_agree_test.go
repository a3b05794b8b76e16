package approval_test

import (
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/audit"
)

// TestArgsHashAgreesWithAudit holds the approval's args_hash and the
// audit's args_sha256 to one canonical form over tricky arguments.
func TestArgsHashAgreesWithAudit(t *testing.T) {
	for _, in := range []string{
		``, `{}`, `{"b":1,"a":2}`, `{"n":1.0}`, `{"n":1e0}`, `{"n":10e-1}`, `{"n":-0}`, `{"n":-0.0e5}`,
		`{"n":100}`, `{"n":1e21}`, `{"n":1e-7}`, `{"n":123456789012345678901234567890}`, `{"n":0.50}`,
		`{"n":1e400}`, `{"n":1e-400}`, `{"n":9007199254740993}`, `{"s":"\u00e9"}`, `{"s":"é"}`,
		`{"s":"<&>\u2028"}`, `{"s":"\ud83d\ude00"}`, `{"\u0062":[3,{"z":null,"y":true}],"a":false}`,
		`{"é":1,"e":2,"\ud83d\ude00":3,"\uffff":4}`, `{"a":[1,[2,[3]]]}`, ` { "a" : 1 } `,
	} {
		_, ah, err := approval.Fingerprint(approval.Call{Tool: "t", Args: []byte(in)})
		if err != nil {
			t.Fatalf("Fingerprint(%s): %v", in, err)
		}
		sum, err := audit.ArgsHash([]byte(in))
		if err != nil {
			t.Fatalf("ArgsHash(%s): %v", in, err)
		}
		if got := strings.TrimPrefix(ah, "sha256:"); got != sum {
			t.Errorf("%s: approval args_hash %s, audit args_sha256 %s", in, got, sum)
		}
	}
}
