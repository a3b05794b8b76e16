package mcptest_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// TestTollgateWritesNoUserState: a tollgate started by a test with no
// --state-dir or --audit writes its audit trail under a state directory of
// the test process's own, not under the user's (which is where the e2e
// tests' trails and pins went before).
func TestTollgateWritesNoUserState(t *testing.T) {
	bin := mcptest.Tollgate(t)
	home := os.Getenv("XDG_STATE_HOME")
	if home == "" || !strings.HasPrefix(home, os.TempDir()) {
		t.Fatalf("XDG_STATE_HOME = %q, want a directory of the test process under %s", home, os.TempDir())
	}
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("version: \"1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The server: this test binary, running no test.
	cmd := exec.Command(bin, "run", "-c", policy, "--", os.Args[0], "-test.run=^$")
	cmd.Stdin = strings.NewReader("")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tollgate run: %v\n%s", err, out)
	}
	trails, _ := filepath.Glob(filepath.Join(home, "tollgate", "audit", "*.jsonl"))
	if len(trails) == 0 {
		t.Fatalf("no audit trail under %s", filepath.Join(home, "tollgate", "audit"))
	}
}
