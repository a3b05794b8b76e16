package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// UsageLister is a store that lists what its counters have used.
type UsageLister interface {
	state.Store
	Usage(ctx context.Context, now time.Time) ([]state.CounterUsage, error)
}

// RunUsage checks a store's Usage: it lists what each counter has used in
// its window, leaves out refunded charges and charges that left their
// window, keeps calendar windows apart, and changes nothing.
func RunUsage(t *testing.T, newStore func(t *testing.T) UsageLister) {
	ctx := context.Background()
	s := newStore(t)
	defer s.Close()
	minute := Charge("calls", time.Minute, "1", "10")
	other := Charge("calls", time.Minute, "1", "10")
	other.Key.Who = "session:abc"
	spend := Charge("spend", time.Hour, "2.5", "100")
	day := calendar(Charge("daily", 24*time.Hour, "7", "100"), time.UTC)

	mustAdmit(t, s, T0.Add(-90*time.Second), minute) // leaves the window before T0
	mustAdmit(t, s, T0.Add(-10*time.Second), minute, spend)
	mustAdmit(t, s, T0.Add(-5*time.Second), minute, other, day)
	r := mustAdmit(t, s, T0.Add(-time.Second), spend)
	if err := s.Refund(ctx, r.Reservation); err != nil {
		t.Fatal(err)
	}

	type row struct {
		Key     string
		Window  time.Duration
		Align   state.Align
		Used    string
		Charges int
	}
	list := func(now time.Time) []row {
		t.Helper()
		us, err := s.Usage(ctx, now)
		if err != nil {
			t.Fatalf("Usage: %v", err)
		}
		var out []row
		for _, u := range us {
			out = append(out, row{u.Key.String(), u.Window, u.Align, u.Used.String(), u.Charges})
		}
		return out
	}
	want := []row{
		{"tool/calls/global", time.Minute, state.Sliding, "2", 2},
		{"tool/calls/session:abc", time.Minute, state.Sliding, "1", 1},
		{"tool/daily/global", 24 * time.Hour, state.Calendar, "7", 1},
		{"tool/spend/global", time.Hour, state.Sliding, "2.5", 1},
	}
	if diff := cmp.Diff(want, list(T0)); diff != "" {
		t.Errorf("Usage at T0 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, list(T0)); diff != "" {
		t.Errorf("Usage asked twice changed something (-want +got):\n%s", diff)
	}
	// 2 minutes on: the minute counters are empty, the hour and the day
	// (T0 is 14:59:30, so the day has not turned) are not.
	later := []row{
		{"tool/daily/global", 24 * time.Hour, state.Calendar, "7", 1},
		{"tool/spend/global", time.Hour, state.Sliding, "2.5", 1},
	}
	if diff := cmp.Diff(later, list(T0.Add(2*time.Minute))); diff != "" {
		t.Errorf("Usage two minutes later (-want +got):\n%s", diff)
	}
	// The next UTC day starts a new calendar window.
	if got := list(T0.Add(10 * time.Hour)); len(got) != 0 {
		t.Errorf("Usage the next day = %v, want nothing", got)
	}
}
