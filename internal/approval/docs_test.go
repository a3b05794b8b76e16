package approval_test

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// TestDocsPoliciesLoad checks that every policy in docs/approvals.md loads
// and has the approvals settings it describes.
func TestDocsPoliciesLoad(t *testing.T) {
	data, err := os.ReadFile("../../docs/approvals.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	var cur *strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case cur == nil && strings.TrimSpace(line) == "```yaml":
			cur = &strings.Builder{}
		case cur != nil && strings.TrimSpace(line) == "```":
			blocks, cur = append(blocks, cur.String()), nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	if len(blocks) == 0 {
		t.Fatal("no yaml blocks in docs/approvals.md")
	}
	for i, b := range blocks {
		p, err := policy.Load("approvals.md", []byte(b))
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if c := p.Approvals(); i == 0 && (c.WebhookURL == "" || c.DedupeWindow == 0 || c.Response != "result") {
			t.Fatalf("block %d: approvals %+v", i, c)
		}
	}
}
