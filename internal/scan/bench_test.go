package scan

import (
	"io"
	"testing"
	"time"
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

// TestFixtureScanIsFast is a generous sanity bound (the benchmark reports
// the real figure): parsing, classifying and rendering every format for the
// 323-tool fixture must take well under a second even under -race.
func TestFixtureScanIsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	tools := loadFixture(t)
	start := time.Now()
	r := Analyze(Inventory{Tools: tools})
	for _, f := range []func(io.Writer) error{r.WriteScaffold, r.WriteJSON, r.WriteMarkdown, r.WriteHTML} {
		if err := f(io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	limit := time.Second
	if raceEnabled {
		limit = 10 * time.Second // the race detector slows this code ~5-10x
	}
	if d := time.Since(start); d > limit {
		t.Errorf("scanning the fixture took %v, want under %v", d, limit)
	}
	if r.Summary.Total != 323 {
		t.Errorf("scanned %d tools, want 323", r.Summary.Total)
	}
}
