package memstore_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) state.Store { return memstore.New() })
}

func BenchmarkReserve(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) state.Store { return memstore.New() })
}

// The store keeps a few bytes per admission in its window, not a record of
// each: the benchmark's policy (a kept rate limit and a refundable spend
// cap), committed, one admission every 40 µs. Denied calls keep nothing.
func TestRetainedPerAdmission(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap over 200,000 admissions")
	}
	ctx := context.Background()
	rate, spend := storetest.KeepCharges()
	rate.Window, rate.Limit = time.Minute, storetest.Dec("1000000000")
	spend.Window, spend.Amount, spend.Limit = 24*time.Hour, storetest.Dec("0.5"), storetest.Dec("1000000000000")
	tight := storetest.Charge("tight", time.Minute, "1", "100")
	charges := []state.Charge{rate, spend}

	const admissions = 200_000
	s := memstore.New()
	defer s.Close()
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	now := storetest.T0
	call := func(charges []state.Charge) bool {
		r, err := s.Reserve(ctx, now, charges)
		if err != nil {
			t.Fatal(err)
		}
		if r.Admitted {
			if err := s.Commit(ctx, r.Reservation); err != nil {
				t.Fatal(err)
			}
		}
		return r.Admitted
	}
	call(charges) // the counters themselves
	before := heap()
	for range admissions {
		now = now.Add(40 * time.Microsecond)
		if !call(charges) {
			t.Fatal("denied under a limit never reached")
		}
	}
	per := float64(heap()-before) / admissions
	t.Logf("%.1f bytes retained per admission", per)
	if per > 16 {
		t.Errorf("%.1f bytes retained per admission, want at most 16 (a tagged event is 80)", per)
	}

	for range 100 {
		call([]state.Charge{tight})
	}
	before = heap()
	for range admissions {
		if call([]state.Charge{tight}) {
			t.Fatal("admitted past the limit")
		}
	}
	if grew := int64(heap()) - int64(before); grew > 64<<10 {
		t.Errorf("%d denied calls grew the heap by %d bytes", admissions, grew)
	}
	runtime.KeepAlive(s)
}

// A refund finds each of its charges by time and amount: with many charges
// (past the inline ones), several on one counter, kept ones among them, and
// other reservations recorded at the same instant with other amounts, it
// gives back exactly its own refundable amounts.
func TestRefundByTimeAndAmount(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()
	spend := storetest.Charge("spend", time.Minute, "0.5", "100")
	other := storetest.Charge("other", time.Hour, "2", "100")
	kept := storetest.Charge("spend", time.Minute, "0.25", "100")
	kept.KeepOnRefund = true
	now := storetest.T0

	// Another reservation at the same instant on the same counters, with
	// different amounts, before and after ours.
	before := spend
	before.Amount = storetest.Dec("0.50") // equal in value, not in digits
	if r, err := s.Reserve(ctx, now, []state.Charge{before, other}); err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	mine := []state.Charge{spend, kept, other, spend, other, kept, spend}
	r, err := s.Reserve(ctx, now, mine)
	if err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	after := spend
	after.Amount = storetest.Dec("3")
	if r, err := s.Reserve(ctx, now, []state.Charge{after, other}); err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	totalAt := func(c state.Charge, now time.Time) string {
		d, err := s.Peek(ctx, now, c.Key, c.Window, c.Align, c.Location)
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	total := func(c state.Charge) string { return totalAt(c, now) }
	if got := total(spend); got != "5.50" {
		t.Fatalf("spend before the refund = %s, want 5.50", got)
	}
	for range 2 {
		if err := s.Refund(ctx, r.Reservation); err != nil {
			t.Fatal(err)
		}
		// 0.50 + 3 of the others, and the two kept 0.25.
		if got := total(spend); got != "4.00" {
			t.Errorf("spend after the refund = %s, want 4.00", got)
		}
		if got := total(other); got != "4" {
			t.Errorf("other after the refund = %s, want 4", got)
		}
	}
	// What is left leaves the window together, to nothing: the refund took
	// out events whose amounts were its own.
	if got := totalAt(spend, now.Add(time.Minute)); got != "0.00" {
		t.Errorf("spend a minute later = %s, want 0.00", got)
	}
}
