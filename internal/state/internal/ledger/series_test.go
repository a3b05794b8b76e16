package ledger

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// A Series answers exactly as a Counter does, whatever happens: random
// appends (many at the same nanosecond, amounts equal in value but not in
// representation), refunds (of live, refunded and expired events), time
// that jumps past a block's 32-bit offsets or goes back a little, sliding
// and calendar windows. Every answer is compared after every step, decimals
// in their representation too.
func TestSeriesMatchesCounter(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	shapes := []state.Charge{
		{Window: time.Second},
		{Window: 7},
		{Window: 10 * time.Millisecond},
		{Window: 9 * time.Second}, // longer than a block's offsets reach
		{Window: time.Minute, Align: state.Calendar},
		{Window: 24 * time.Hour, Align: state.Calendar, Location: ny},
	}
	amounts := []decimal.Decimal{dec("1"), dec("1"), dec("1"), dec("0.5"), dec("0.50"), dec("2.25"), dec("12345678901234567890123.5")}
	for _, shape := range shapes {
		for seed := range uint64(2) {
			// Odd seeds run dense traffic: thousands of live events, over
			// several full blocks.
			dense := seed%2 == 1
			t.Run(fmt.Sprintf("%v/%v/%d", shape.Window, shape.Align, seed), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 15))
				c, s := New(&shape), NewSeries(&shape)
				type made struct {
					res    string
					at     int64
					amount decimal.Decimal
				}
				var log []made
				now := time.Date(2025, 3, 9, 6, 59, 0, 0, time.UTC).UnixNano() // a DST change in New York
				w := int64(shape.Window)
				for step := range 3000 {
					switch p := rng.IntN(100); {
					case dense && p >= 40 && p < 99:
						now += rng.Int64N(max(w/20000, 2))
					case p < 40: // same nanosecond
					case p < 60:
						now += rng.Int64N(4)
					case p < 90:
						now += rng.Int64N(max(w/500, 2))
					case p < 96:
						now += rng.Int64N(w + 1)
					case p < 98:
						now += 5 * int64(time.Second) // past a block's offsets
					default:
						now -= rng.Int64N(max(w/100, 2)) // a caller whose clock lags
					}
					at := fmt.Sprintf("step %d (now %d)", step, now)
					if dc, ds := c.Advance(now), s.Advance(now); dc != ds {
						t.Fatalf("%s: Advance dropped %v, series %v", at, dc, ds)
					}
					switch p := rng.IntN(100); {
					case p < 70:
						a := amounts[rng.IntN(len(amounts))]
						res := strconv.Itoa(step)
						ac := c.Append(now, &a, Tag{Res: res})
						as := s.Append(now, &a)
						if ac != as {
							t.Fatalf("%s: Append at %d, series %d", at, ac, as)
						}
						log = append(log, made{res, ac, a})
					case p < 85 && len(log) > 0:
						// Each charge is refunded at most once, as a store's
						// reservations are.
						k := rng.IntN(len(log))
						m := log[k]
						log = slices.Delete(log, k, k+1)
						_, okc := c.Remove(m.res, 0)
						oks := s.Remove(m.at, &m.amount)
						if okc != oks {
							t.Fatalf("%s: Remove(%s at %d) = %v, series %v", at, &m.amount, m.at, okc, oks)
						}
					}
					compare(t, at, c, s, now, rng, amounts, !dense || step%64 == 0)
				}
			})
		}
	}
}

// compare checks every answer of c and s; the ones that scan every event
// only when full.
func compare(t *testing.T, at string, c *Counter, s *Series, now int64, rng *rand.Rand, amounts []decimal.Decimal, full bool) {
	t.Helper()
	if c.Total.String() != s.Total.String() {
		t.Fatalf("%s: Total %s, series %s", at, &c.Total, &s.Total)
	}
	if len(c.Events()) != s.Len() {
		t.Fatalf("%s: %d events, series %d", at, len(c.Events()), s.Len())
	}
	if ec, es := c.Expires(), s.Expires(); ec != es {
		t.Fatalf("%s: Expires %d, series %d", at, ec, es)
	}
	if !full {
		return
	}
	for _, q := range []int64{now, now + rng.Int64N(c.Window+1), now + c.Window} {
		tc, ts := c.TotalAt(q), s.TotalAt(q)
		if tc.String() != ts.String() {
			t.Fatalf("%s: TotalAt(%d) %s, series %s", at, q, &tc, &ts)
		}
		uc, nc := c.UsageAt(q)
		us, ns := s.UsageAt(q)
		if uc.String() != us.String() || nc != ns {
			t.Fatalf("%s: UsageAt(%d) %s, %d; series %s, %d", at, q, &uc, nc, &us, ns)
		}
	}
	ch := state.Charge{Amount: amounts[rng.IntN(len(amounts))], Strict: rng.IntN(2) == 0}
	var extra decimal.Decimal
	if rng.IntN(3) == 0 {
		extra = amounts[rng.IntN(len(amounts))]
	}
	// A limit near the total, so that some events must leave first.
	ch.Limit = decimal.NewFromInt64(rng.Int64N(int64(s.Len()) + 3))
	if rc, rs := c.RetryAfter(now, &extra, &ch), s.RetryAfter(now, &extra, &ch); rc != rs {
		t.Fatalf("%s: RetryAfter(%s + %s ≤ %s) %v, series %v", at, &extra, &ch.Amount, &ch.Limit, rc, rs)
	}
}

// A series costs a few bytes per live event, not a Counter's eighty and
// more: the live heap, per admission, of the benchmark's policy (a rate
// limit and a spend cap) after 20 s at 25,000 admissions a second.
func BenchmarkRetained(b *testing.B) {
	for _, kind := range []string{"Counter", "Series"} {
		b.Run(kind, func(b *testing.B) {
			ch := state.Charge{Window: time.Minute}
			one, half := dec("1"), dec("0.5")
			const admissions = 500_000
			var before, after runtime.MemStats
			for b.Loop() {
				runtime.GC()
				runtime.ReadMemStats(&before)
				rate, spend := New(&ch), New(&ch)
				srate, sspend := NewSeries(&ch), NewSeries(&ch)
				now := int64(0)
				for i := range admissions {
					now += 40_000
					if kind == "Counter" {
						res := "m" + strconv.FormatInt(int64(i), 36)
						rate.Append(now, &one, Tag{Res: res, Keep: true})
						spend.Append(now, &half, Tag{Res: res})
					} else {
						srate.Append(now, &one)
						sspend.Append(now, &half)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/admissions, "B/admission")
				runtime.KeepAlive(rate)
				runtime.KeepAlive(spend)
				runtime.KeepAlive(srate)
				runtime.KeepAlive(sspend)
			}
		})
	}
}
