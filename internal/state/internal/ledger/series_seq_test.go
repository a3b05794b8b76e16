package ledger

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// A Series with row numbers (the SQLite mirror's) answers as a Counter
// whose events are tagged with their rows: appends and loads of rows, the
// rows each Advance drops (in order), removals by row (of live, removed and
// dropped rows), row numbers that jump past a block's 32-bit offsets.
func TestSeriesSeqMatchesCounter(t *testing.T) {
	shapes := []state.Charge{
		{Window: time.Second},
		{Window: 10 * time.Millisecond},
		{Window: 9 * time.Second},
		{Window: time.Minute, Align: state.Calendar},
	}
	amounts := []decimal.Decimal{dec("1"), dec("1"), dec("0.5"), dec("0.50"), dec("2.25")}
	for _, shape := range shapes {
		for seed := range uint64(2) {
			dense := seed%2 == 1
			t.Run(fmt.Sprintf("%v/%v/%d", shape.Window, shape.Align, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 16))
				c, s := New(&shape), NewSeries(&shape)
				now := time.Date(2025, 3, 9, 6, 59, 0, 0, time.UTC).UnixNano()
				w := int64(shape.Window)
				seq := int64(0)
				var rows []int64 // every row made, removed or not
				for step := range 3000 {
					switch p := rng.IntN(100); {
					case dense && p >= 40:
						now += rng.Int64N(max(w/20000, 2))
					case p < 40:
					case p < 90:
						now += rng.Int64N(max(w/500, 2))
					case p < 97:
						now += rng.Int64N(w + 1)
					default:
						now += 5 * int64(time.Second)
					}
					at := fmt.Sprintf("step %d (now %d)", step, now)
					var dc, ds []int64
					c.AdvanceDrop(now, func(e *Event) { dc = append(dc, e.Seq) })
					s.AdvanceSeq(now, func(seq int64) { ds = append(ds, seq) })
					if !slices.Equal(dc, ds) {
						t.Fatalf("%s: Advance dropped rows %v, series %v", at, dc, ds)
					}
					seq += 1 + rng.Int64N(3)
					if rng.IntN(500) == 0 {
						seq += math.MaxUint32 // past a block's row offsets
					}
					a := amounts[rng.IntN(len(amounts))]
					tag := Tag{Res: strconv.FormatInt(seq, 10), Seq: seq}
					switch p := rng.IntN(100); {
					case p < 45:
						ac := c.Append(now, &a, tag)
						if as := s.AppendSeq(now, &a, seq); ac != as {
							t.Fatalf("%s: Append at %d, series %d", at, ac, as)
						}
						rows = append(rows, seq)
					case p < 70:
						// Another process's row, recorded a little earlier
						// (never before the newest row: see LoadSeq), maybe
						// already out of the window.
						load := now - rng.Int64N(w+w/4+1)
						if ev := c.Events(); len(ev) > 0 {
							load = max(load, ev[len(ev)-1].At)
						}
						c.Load(load, &a, tag)
						s.LoadSeq(load, &a, seq)
						rows = append(rows, seq)
					case len(rows) > 0:
						r := rows[rng.IntN(len(rows))]
						e, okc := c.Remove(strconv.FormatInt(r, 10), 0)
						as, oks := s.RemoveSeq(r)
						if okc != oks || (okc && e.At != as) {
							t.Fatalf("%s: Remove(row %d) = %v at %d, series %v at %d", at, r, okc, e.At, oks, as)
						}
					}
					compare(t, at, c, s, now, rng, amounts, !dense || step%64 == 0)
				}
			})
		}
	}
}
