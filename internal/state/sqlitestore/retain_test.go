package sqlitestore_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// The mirror keeps a few bytes per admission in its window, not a tagged
// record of each: the benchmark's policy (a kept rate limit and a refundable
// spend cap), committed, one admission every 40 µs. Denied calls keep
// nothing.
func TestRetainedPerAdmission(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap over 50,000 admissions")
	}
	ctx := context.Background()
	rate, spend := storetest.KeepCharges()
	rate.Window, rate.Limit = time.Minute, storetest.Dec("1000000000")
	spend.Window, spend.Amount, spend.Limit = 24*time.Hour, storetest.Dec("0.5"), storetest.Dec("1000000000000")
	tight := storetest.Charge("tight", time.Minute, "1", "100")
	charges := []state.Charge{rate, spend}

	const admissions = 50_000
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
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
	// The counters themselves, and SQLite's page cache and statements
	// warmed up.
	for range 2000 {
		now = now.Add(40 * time.Microsecond)
		call(charges)
	}
	before := heap()
	for range admissions {
		now = now.Add(40 * time.Microsecond)
		if !call(charges) {
			t.Fatal("denied under a limit never reached")
		}
	}
	per := float64(int64(heap())-int64(before)) / admissions
	t.Logf("%.1f bytes retained per admission", per)
	if per > 24 {
		t.Errorf("%.1f bytes retained per admission, want at most 24 (a tagged event is 80)", per)
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
