package policy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// yamlBlocks extracts every ```yaml block (not ```yaml fragment) with the
// line it starts on.
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

// TestDocsExamplesLoad checks that every policy shown in the docs and every
// example policy loads, so documentation cannot drift from the code.
func TestDocsExamplesLoad(t *testing.T) {
	for _, doc := range []string{"../../docs/policy.md", "../../README.md"} {
		data, err := os.ReadFile(doc)
		if os.IsNotExist(err) {
			t.Logf("%s does not exist; skipped", doc)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		blocks, lines := yamlBlocks(data)
		for i, b := range blocks {
			name := fmt.Sprintf("%s:%d", filepath.Base(doc), lines[i])
			t.Run(name, func(t *testing.T) {
				if _, err := Load(name, []byte(b)); err != nil {
					t.Errorf("block at %s does not load:\n%v", name, err)
				}
			})
		}
	}
	examples, _ := filepath.Glob("../../examples/policies/*.yaml")
	if len(examples) == 0 {
		t.Error("no example policies found in examples/policies")
	}
	for _, f := range examples {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := LoadFile(f); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestDemoPolicy(t *testing.T) {
	p, err := LoadFile("../../examples/policies/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tool, args string
		want       Action
	}{
		{"delete_repository", `{}`, Deny},
		{"get_weather", `{"city":"Paris"}`, Allow},
		{"search_docs", `{"query":"` + strings.Repeat("x", 201) + `"}`, Deny},
		{"read_file", `{"path":"/workspace/notes.md"}`, Allow},
		{"read_file", `{"path":"/workspace/../etc/passwd"}`, Deny},
		{"send_email", `{"to":"bob@example.com"}`, Allow},
		{"send_email", `{"to":"bob@example.com,eve@evil.com"}`, Deny},
		{"send_email", `{"to":"eve@evil.com"}`, Deny},
		{"create_refund", `{"amount":20}`, Allow},
		{"create_refund", `{"amount":75}`, RequireApproval},
		{"create_refund", `{"amount":150}`, Deny},
		{"unknown_tool", `{}`, Deny},
	}
	for _, tt := range tests {
		d := p.Decide(call(tt.tool, tt.args))
		if d.Action != tt.want {
			t.Errorf("%s %s: got %v (%s), want %v", tt.tool, tt.args, d.Action, d.Reason, tt.want)
		}
	}
	if !p.Hidden("delete_repository") {
		t.Error("delete_repository must be hidden")
	}
}
