package scan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// goldenInventories are the scans the golden files hold.
func goldenInventories(t *testing.T) map[string]Inventory {
	t.Helper()
	small, err := os.ReadFile("testdata/small-tools.json")
	if err != nil {
		t.Fatal(err)
	}
	tools, err := ParseToolsFile(small)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Inventory{
		"small":      {Server: Server{Name: "small-test-server", Version: "1.2.3", ProtocolVersion: ProtocolVersion, Source: "file: testdata/small-tools.json"}, Tools: tools},
		"fusionauth": {Server: Server{Source: "file: fusionauth-tools.json"}, Tools: loadFixture(t)},
	}
}

func render(t *testing.T, r *Report, format string) []byte {
	t.Helper()
	var buf bytes.Buffer
	var err error
	switch format {
	case "yaml":
		err = r.WriteScaffold(&buf)
	case "json":
		err = r.WriteJSON(&buf)
	case "md":
		err = r.WriteMarkdown(&buf)
	case "html":
		err = r.WriteHTML(&buf)
	}
	if err != nil {
		t.Fatalf("render %s: %v", format, err)
	}
	return buf.Bytes()
}

func TestGolden(t *testing.T) {
	for name, inv := range goldenInventories(t) {
		r := Analyze(inv)
		for _, format := range []string{"yaml", "json", "md", "html"} {
			t.Run(name+"."+format, func(t *testing.T) {
				got := render(t, r, format)
				path := filepath.Join("testdata", name+"."+format+".golden")
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", path, diff)
				}
			})
		}
	}
}

// TestScaffoldLoads checks that every scaffold loads with the policy
// package unchanged, and again with each commented-out alternative
// uncommented, one at a time and all together.
func TestScaffoldLoads(t *testing.T) {
	for name, inv := range goldenInventories(t) {
		t.Run(name, func(t *testing.T) {
			data := render(t, Analyze(inv), "yaml")
			if _, err := policy.Load(name+".yaml", data); err != nil {
				t.Fatalf("scaffold does not load: %v", err)
			}
			alts := alternativeBlocks(string(data))
			if len(alts) == 0 {
				t.Fatal("scaffold has no alternatives")
			}
			// Every alternative of a small scaffold; a sample of a large one
			// (its alternatives repeat a few shapes, and each load of a
			// 3000-line policy costs time under -race).
			step := max(1, len(alts)/12)
			for i := 0; i < len(alts); i += step {
				block := alts[i]
				text := uncomment(string(data), block)
				if _, err := policy.Load(name+".yaml", []byte(text)); err != nil {
					t.Errorf("alternative %d (line %d) does not load once uncommented: %v", i, block[0]+1, err)
				}
			}
			all := string(data)
			for _, block := range alts {
				all = uncomment(all, block)
			}
			if _, err := policy.Load(name+".yaml", []byte(all)); err != nil {
				t.Errorf("scaffold with every alternative uncommented does not load: %v", err)
			}
		})
	}
}

// alternativeBlocks returns, for each AlternativeMarker, the line numbers
// of the commented YAML that follows it.
func alternativeBlocks(text string) [][]int {
	lines := strings.Split(text, "\n")
	var blocks [][]int
	for i := 0; i < len(lines); i++ {
		if !strings.HasPrefix(strings.TrimSpace(lines[i]), AlternativeMarker) {
			continue
		}
		var block []int
		for j := i + 1; j < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[j]), "#"); j++ {
			if strings.HasPrefix(strings.TrimSpace(lines[j]), AlternativeMarker) {
				break
			}
			block = append(block, j)
		}
		blocks = append(blocks, block)
	}
	return blocks
}

// uncomment deletes the "# " after the indentation of the given lines.
func uncomment(text string, block []int) string {
	lines := strings.Split(text, "\n")
	for _, i := range block {
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		rest := strings.TrimPrefix(lines[i][indent:], "#")
		rest = strings.TrimPrefix(rest, " ")
		lines[i] = lines[i][:indent] + rest
	}
	return strings.Join(lines, "\n")
}
