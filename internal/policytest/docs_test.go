package policytest

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// TestOperationsDocExamples checks that every YAML example in
// docs/operations.md means what the page says: test files parse and pass
// against the example policy they name, and policy snippets load.
func TestOperationsDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d YAML examples", len(blocks))
	}
	var suites, policies int
	for _, b := range blocks {
		src := b[1]
		switch {
		case strings.Contains(src, "\ntests:"):
			suites++
			// The example names its own path in its first line.
			first, _, _ := strings.Cut(src, "\n")
			path := "../../" + strings.TrimSpace(strings.TrimPrefix(first, "#"))
			s, err := Parse(path, []byte(src))
			if err != nil {
				t.Fatalf("test file example:\n%s\n%v", src, err)
			}
			res, err := s.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if !r.Passed {
					t.Errorf("documented test %q fails: %s", r.Test.Name, r.Msg)
				}
			}
		case strings.HasPrefix(src, "version:"):
			policies++
			if _, err := policy.Load("operations.md", []byte(src)); err != nil {
				t.Errorf("policy example does not load:\n%s\n%v", src, err)
			}
		}
	}
	if suites == 0 || policies == 0 {
		t.Errorf("found %d test file and %d policy examples", suites, policies)
	}
}
