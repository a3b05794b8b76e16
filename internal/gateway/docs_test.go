package gateway

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDocsExample loads every gateway file shown in docs/gateway.md (a yaml
// block with servers:), so that the documentation never shows one that
// does not load.
func TestDocsExample(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "gateway.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(data, -1)
	n := 0
	for _, b := range blocks {
		if !regexp.MustCompile(`(?m)^servers:`).Match(b[1]) {
			continue
		}
		n++
		t.Setenv("GITHUB_TOKEN", "x")
		if _, err := Load("docs/gateway.md", b[1]); err != nil {
			t.Errorf("docs/gateway.md example %d does not load:\n%v", n, err)
		}
	}
	if n == 0 {
		t.Fatal("no gateway file example in docs/gateway.md")
	}
}
