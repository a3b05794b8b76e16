package scan

import (
	"io"
	"testing"
)

// BenchmarkAnalyzeFixture scans the 323-tool FusionAuth list: classification,
// schema walking and signals for every tool.
func BenchmarkAnalyzeFixture(b *testing.B) {
	tools := loadFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		Analyze(Inventory{Tools: tools})
	}
}

// BenchmarkScaffoldFixture adds rendering the policy scaffold.
func BenchmarkScaffoldFixture(b *testing.B) {
	tools := loadFixture(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := Analyze(Inventory{Tools: tools}).WriteScaffold(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFixtureScan scans, classifies and renders every format for the
// 323-tool fixture (BenchmarkAnalyzeFixture and BenchmarkScaffoldFixture report how long it takes: timing
// belongs in benchmarks, not tests).
func TestFixtureScan(t *testing.T) {
	tools := loadFixture(t)
	r := Analyze(Inventory{Tools: tools})
	for _, f := range []func(io.Writer) error{r.WriteScaffold, r.WriteJSON, r.WriteMarkdown, r.WriteHTML} {
		if err := f(io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	if r.Summary.Total != 323 {
		t.Errorf("scanned %d tools, want 323", r.Summary.Total)
	}
}
