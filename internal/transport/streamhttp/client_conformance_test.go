package streamhttp

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// conformanceScenarios are the official suite's client scenarios that the
// Go SDK's own client passes and that do not need OAuth (which a stdio
// client cannot do through Tollgate).
var conformanceScenarios = []string{
	"initialize",
	"tools_call",
	"sse-retry",
	"elicitation-sep1034-client-defaults",
}

// TestConformanceClientScenarios runs the suite's client scenarios with
// Tollgate's upstream client in the middle: the suite's scenario server is
// the upstream of `tollgate run --upstream`, and the Go SDK client drives
// Tollgate over stdio (testdata/conformance-client).
func TestConformanceClientScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("conformance suite runs are long; -short leaves them out")
	}
	tollgate := mcptest.Tollgate(t)
	mcptest.Conformance(t) // skip or fail early when the suite is missing
	client := buildConformanceClient(t)
	policy := filepath.Join(t.TempDir(), "allow.yaml")
	if err := os.WriteFile(policy, []byte("version: \"1\"\ndefault: allow\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOLLGATE_BIN", tollgate)
	t.Setenv("TOLLGATE_POLICY", policy)
	for _, sc := range conformanceScenarios {
		t.Run(sc, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			out, err := mcptest.RunConformance(t, ctx, "client", "--command", client, "--scenario", sc)
			passed, total, failed, ok := scenarioTotals(out)
			if err != nil || !ok || failed > 0 || passed == 0 {
				t.Fatalf("scenario %s: %d/%d passed, %d failed (err %v)\n%s", sc, passed, total, failed, err, out)
			}
			t.Logf("scenario %s: %d/%d checks passed through Tollgate", sc, passed, total)
		})
	}
}

var passedLine = regexp.MustCompile(`(?m)^Passed: (\d+)/(\d+), (\d+) failed`)

// scenarioTotals reads a single-scenario client run's "Passed: N/M, F
// failed" line.
func scenarioTotals(out []byte) (passed, total, failed int, ok bool) {
	m := passedLine.FindSubmatch(out)
	if m == nil {
		return 0, 0, 0, false
	}
	passed, _ = strconv.Atoi(string(m[1]))
	total, _ = strconv.Atoi(string(m[2]))
	failed, _ = strconv.Atoi(string(m[3]))
	return passed, total, failed, true
}

// buildConformanceClient builds testdata/conformance-client, its own module
// so that the Go SDK's dependencies stay out of Tollgate's go.mod.
func buildConformanceClient(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "conformance-client"))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "conformance-client")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the conformance client: %v\n%s", err, out)
	}
	return bin
}
