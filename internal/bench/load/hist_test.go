package load

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestHistogramQuantiles compares the histogram with exact quantiles of the
// same values: within the bucket precision (1/128) plus one nanosecond.
func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		gen  func() time.Duration
	}{
		{"tiny", func() time.Duration { return time.Duration(rng.IntN(300)) }},
		{"microseconds", func() time.Duration { return time.Duration(20_000 + rng.IntN(200_000)) }},
		{"long tail", func() time.Duration { return time.Duration(rng.ExpFloat64() * float64(50*time.Microsecond)) }},
		{"seconds", func() time.Duration { return time.Duration(rng.Int64N(int64(10 * time.Second))) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h, a, b Histogram
			vals := make([]time.Duration, 20000)
			for i := range vals {
				vals[i] = tc.gen()
				h.Record(vals[i])
				if i%2 == 0 {
					a.Record(vals[i])
				} else {
					b.Record(vals[i])
				}
			}
			a.Merge(&b)
			slices.Sort(vals)
			for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(q*float64(len(vals))+0.999999) - 1
				want := vals[rank]
				for _, hh := range []*Histogram{&h, &a} {
					got := hh.Quantile(q)
					diff := got - want
					if diff < 0 {
						diff = -diff
					}
					if float64(diff) > float64(want)/128+1 {
						t.Errorf("q%.3f = %v, exact %v", q, got, want)
					}
				}
			}
			if h.Count() != uint64(len(vals)) || h.Max() != vals[len(vals)-1] {
				t.Errorf("count %d max %v, want %d %v", h.Count(), h.Max(), len(vals), vals[len(vals)-1])
			}
		})
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("an empty histogram must answer 0")
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	var h Histogram
	b.ReportAllocs()
	for i := range b.N {
		h.Record(time.Duration(i * 37))
	}
}
