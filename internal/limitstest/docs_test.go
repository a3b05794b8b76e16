package limitstest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// TestLimitsGuideExamplesLoad loads every ```yaml block of docs/limits.md:
// each is a complete policy, so the guide cannot drift from the code.
func TestLimitsGuideExamplesLoad(t *testing.T) {
	data, err := os.ReadFile("../../docs/limits.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks, lines := yamlBlocks(data)
	if len(blocks) < 5 {
		t.Fatalf("found %d yaml blocks in docs/limits.md, want at least 5", len(blocks))
	}
	for i, b := range blocks {
		name := fmt.Sprintf("limits.md:%d", lines[i])
		t.Run(name, func(t *testing.T) {
			p, err := policy.Load(name, []byte(b))
			if err != nil {
				t.Fatalf("block at %s does not load:\n%v", name, err)
			}
			if !p.Stateful() {
				t.Errorf("block at %s has no limit: every example in this guide should show one", name)
			}
		})
	}
}

// yamlBlocks extracts every ```yaml block with the line it starts on.
func yamlBlocks(data []byte) (blocks []string, lines []int) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	var cur *strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && trimmed == "```yaml":
			cur, start = &strings.Builder{}, n+1
		case cur != nil && trimmed == "```":
			blocks, lines = append(blocks, cur.String()), append(lines, start)
			cur = nil
		case cur != nil:
			cur.WriteString(line + "\n")
		}
	}
	return blocks, lines
}
