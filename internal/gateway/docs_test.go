package gateway

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// TestDocsExamples loads every gateway file shown in docs/gateway.md (a yaml
// block with servers:) and the README (a "yaml gateway" block), so that
// the documentation never shows one that does not load. Policy files an
// example names are made empty policies beside it.
func TestDocsExamples(t *testing.T) {
	t.Setenv("GITHUB_TOKEN", "x")
	n := 0
	for doc, rx := range map[string]*regexp.Regexp{
		"docs/gateway.md": regexp.MustCompile("(?s)```yaml\n(.*?)```"),
		"README.md":       regexp.MustCompile("(?s)```yaml gateway\n(.*?)```"),
	} {
		data, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range rx.FindAllSubmatch(data, -1) {
			if !regexp.MustCompile(`(?m)^servers:`).Match(b[1]) {
				continue
			}
			n++
			dir := t.TempDir()
			for _, m := range regexp.MustCompile(`policy: (\S+\.yaml)`).FindAllSubmatch(b[1], -1) {
				p := filepath.Join(dir, string(m[1]))
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("version: \"1\"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := Load(filepath.Join(dir, "gateway.yaml"), b[1]); err != nil {
				t.Errorf("%s: example %d does not load:\n%v", doc, n, err)
			}
		}
	}
	if n < 2 {
		t.Fatalf("found %d gateway file examples in docs/gateway.md and README.md, want both", n)
	}
}
