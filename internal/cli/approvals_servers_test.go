package cli_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestApprovalsBelongToTheirServer: two `tollgate run`s share a policy file
// and a state store, one in front of a scratch server, one in front of a
// production server. The agent gets a call approved on the scratch server
// and makes the same call (same tool, arguments, rule and policy file) on
// the production server. Before, both had the same policy revision, so the
// approval fingerprinted the same and the production call ran on it. Now
// each server's revision includes its name: the production call waits for
// an approval of its own, and the scratch call runs. After the policy file
// changes and both reload, it still holds.
func TestApprovalsBelongToTheirServer(t *testing.T) {
	pol := aprWritePolicy(t, "", "")
	dir := filepath.Join(t.TempDir(), "state")
	store := []string{"--state-dir", dir}
	scratch := aprStart(t, pol, "--state-dir", dir, "--server-name", "scratch")
	prod := aprStart(t, pol, "--state-dir", dir, "--server-name", "prod")

	const args = `{"amount":75000}`
	id := aprPending(t, scratch.call("test_simple_text", args))
	aprApprove(t, pol, id, store...)
	prodID := aprPending(t, prod.call("test_simple_text", args))
	if prodID == id {
		t.Fatalf("the production call was queued under the scratch call's approval %s", id)
	}
	aprForwarded(t, scratch.call("test_simple_text", args), aprSimpleText)

	// A reload reads the file with the same tag.
	data, err := os.ReadFile(pol)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pol, append(data, "# edited\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	rev := aprShow(t, id, store...).PolicyRev
	var next string
	for deadline := time.Now().Add(15 * time.Second); ; {
		next = aprPending(t, scratch.call("test_simple_text", `{"amount":75001}`))
		if aprShow(t, next, store...).PolicyRev != rev {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scratch proxy did not reload the edited policy within 15s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	aprApprove(t, pol, next, store...)
	if r := prod.call("test_simple_text", `{"amount":75001}`); r.action != "approval_required" {
		t.Fatalf("after a reload, the production call ran on the scratch server's approval: %s", r.raw)
	}
	aprForwarded(t, scratch.call("test_simple_text", `{"amount":75001}`), aprSimpleText)
}
