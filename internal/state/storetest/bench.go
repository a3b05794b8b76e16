package storetest

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
)

// Parallelism is the number of concurrent callers in the parallel benchmark,
// the proxy's target load of 16 calls in flight.
const Parallelism = 16

// Bench measures Reserve+Commit of a typical call — a global rate limit (kept
// on refund) and a per-session spend cap (refundable) — serially and from Parallelism goroutines. The fake
// clock advances 50µs per call, so a 1s window holds ~20,000 live events and
// old ones leave as new ones arrive (the steady state of a busy proxy).
//
// Spawned is Serial with each call on a goroutine of its own, as the proxy
// makes them (one goroutine per admission): a store that runs deep code on
// the caller's goroutine pays for growing its stack every call.
func Bench(b *testing.B, newStore func(b *testing.B) state.Store) {
	b.Run("Serial", func(b *testing.B) { bench(b, newStore, 1, false) })
	b.Run("Spawned", func(b *testing.B) { bench(b, newStore, 1, true) })
	b.Run(fmt.Sprintf("Parallel%d", Parallelism), func(b *testing.B) { bench(b, newStore, Parallelism, false) })
}

func bench(b *testing.B, newStore func(b *testing.B) state.Store, goroutines int, spawn bool) {
	s := newStore(b)
	defer s.Close()
	ctx := context.Background()
	var tick atomic.Int64
	var session atomic.Int64
	rate := Charge("calls", time.Second, "1", "1000000000")
	rate.Key.Scope = "_global"
	rate.KeepOnRefund = true // as the gate marks a rate limit
	b.ReportAllocs()
	b.ResetTimer()
	run := func(pb func() bool) {
		spend := Charge("spend", time.Second, "0.01", "1000000000")
		spend.Key.Who = fmt.Sprintf("session:%d", session.Add(1)%8)
		charges := []state.Charge{rate, spend}
		call := func() error {
			now := T0.Add(time.Duration(tick.Add(1)) * 50 * time.Microsecond)
			r, err := s.Reserve(ctx, now, charges)
			if err != nil {
				return err
			}
			if !r.Admitted {
				return fmt.Errorf("denied")
			}
			return s.Commit(ctx, r.Reservation)
		}
		done := make(chan error)
		for pb() {
			var err error
			if spawn {
				go func() { done <- call() }()
				err = <-done
			} else {
				err = call()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	if goroutines == 1 {
		i := 0
		run(func() bool { i++; return i <= b.N })
	} else {
		// SetParallelism multiplies GOMAXPROCS; round up to reach the target.
		procs := runtime.GOMAXPROCS(0)
		b.SetParallelism((goroutines + procs - 1) / procs)
		b.RunParallel(func(pb *testing.PB) { run(pb.Next) })
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reservations/s")
}
