// Package storetest is the conformance suite every state.Store passes: the
// same tests, with fixed times, run against memory, SQLite and Redis.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// NewStore returns a fresh, empty store; the suite closes it.
type NewStore func(t *testing.T) state.Store

// Run runs the conformance suite. Each subtest gets its own store from
// newStore.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s state.Store)
	}{
		{"AdmitUpToLimit", testAdmitUpToLimit},
		{"AllOrNothing", testAllOrNothing},
		{"SameCounterTwice", testSameCounterTwice},
		{"StrictLimit", testStrictLimit},
		{"ExactDecimals", testExactDecimals},
		{"RefundFreesCapacity", testRefundFreesCapacity},
		{"CommitRefundIdempotent", testCommitRefundIdempotent},
		{"RefundKeepsKeptCharges", testRefundKeepsKeptCharges},
		{"RefundKeepsKeptChargeOnSameCounter", testRefundKeepsKeptChargeOnSameCounter},
		{"RefundOnlyKeptCharges", testRefundOnlyKeptCharges},
		{"SlidingWindowStrict", testSlidingWindowStrict},
		{"SlidingAcrossMinuteBoundary", testSlidingAcrossMinuteBoundary},
		{"RetryAfterSliding", testRetryAfterSliding},
		{"CalendarTimezone", testCalendarTimezone},
		{"RetryAfterCalendar", testRetryAfterCalendar},
		{"RetryAfterNever", testRetryAfterNever},
		{"RetryAfterAtMostWindow", testRetryAfterAtMostWindow},
		{"Peek", testPeek},
		{"Expiry", testExpiry},
		{"WindowIsIdentity", testWindowIsIdentity},
		{"InvalidCharge", testInvalidCharge},
		{"ConcurrentExact", testConcurrentExact},
		{"ConcurrentMultiCounter", testConcurrentMultiCounter},
		{"CloseTwice", testCloseTwice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

// T0 is the suite's fixed clock: a Tuesday, 30 seconds before a minute
// boundary (2025-03-11 14:59:30 UTC).
var T0 = time.Date(2025, 3, 11, 14, 59, 30, 0, time.UTC)

// Dec parses a decimal literal or panics.
func Dec(s string) decimal.Decimal {
	d, err := decimal.Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Charge builds a sliding-window charge of amount against limit.
func Charge(counter string, window time.Duration, amount, limit string) state.Charge {
	return state.Charge{
		Key:    state.Key{Scope: "tool", Counter: counter, Who: "global"},
		Window: window, Amount: Dec(amount), Limit: Dec(limit),
	}
}

func calendar(c state.Charge, loc *time.Location) state.Charge {
	c.Align, c.Location = state.Calendar, loc
	return c
}

func reserve(t *testing.T, s state.Store, now time.Time, charges ...state.Charge) state.Result {
	t.Helper()
	r, err := s.Reserve(context.Background(), now, charges)
	if err != nil {
		t.Fatalf("Reserve at %v: %v", now, err)
	}
	if r.Admitted && r.Reservation == "" && len(charges) > 0 {
		t.Fatalf("Reserve admitted without a reservation id")
	}
	if len(r.Totals) != len(charges) {
		t.Fatalf("Reserve returned %d totals for %d charges", len(r.Totals), len(charges))
	}
	return r
}

func mustAdmit(t *testing.T, s state.Store, now time.Time, charges ...state.Charge) state.Result {
	t.Helper()
	r := reserve(t, s, now, charges...)
	if !r.Admitted {
		t.Fatalf("Reserve at %v: denied (charge %d, totals %v), want admitted", now, r.Denied, r.Totals)
	}
	return r
}

func mustDeny(t *testing.T, s state.Store, now time.Time, charges ...state.Charge) state.Result {
	t.Helper()
	r := reserve(t, s, now, charges...)
	if r.Admitted {
		t.Fatalf("Reserve at %v: admitted (totals %v), want denied", now, r.Totals)
	}
	if r.Reservation != "" {
		t.Errorf("denied Reserve returned reservation %q", r.Reservation)
	}
	return r
}

func checkDec(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	w := Dec(want)
	if got.Cmp(&w) != 0 {
		t.Errorf("%s = %s, want %s", what, &got, want)
	}
}

func peek(t *testing.T, s state.Store, now time.Time, c state.Charge) decimal.Decimal {
	t.Helper()
	d, err := s.Peek(context.Background(), now, c.Key, c.Window, c.Align, c.Location)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	return d
}

func testAdmitUpToLimit(t *testing.T, s state.Store) {
	c := Charge("calls", time.Minute, "1", "3")
	for i := range 3 {
		r := mustAdmit(t, s, T0.Add(time.Duration(i)*time.Second), c)
		checkDec(t, fmt.Sprintf("total after call %d", i+1), r.Totals[0], fmt.Sprint(i+1))
	}
	r := mustDeny(t, s, T0.Add(3*time.Second), c)
	if r.Denied != 0 {
		t.Errorf("Denied = %d, want 0", r.Denied)
	}
	checkDec(t, "total when denied", r.Totals[0], "3")
}

func testAllOrNothing(t *testing.T, s state.Store) {
	tight := Charge("tight", time.Minute, "1", "1")
	loose := Charge("loose", time.Minute, "1", "10")
	r := mustAdmit(t, s, T0, tight, loose)
	checkDec(t, "tight total", r.Totals[0], "1")
	checkDec(t, "loose total", r.Totals[1], "1")

	r = mustDeny(t, s, T0.Add(time.Second), loose, tight)
	if r.Denied != 1 {
		t.Errorf("Denied = %d, want 1 (the tight counter)", r.Denied)
	}
	checkDec(t, "loose total as found", r.Totals[0], "1")
	checkDec(t, "tight total as found", r.Totals[1], "1")
	checkDec(t, "loose after denied call", peek(t, s, T0.Add(time.Second), loose), "1")

	r = mustDeny(t, s, T0.Add(2*time.Second), tight, loose)
	if r.Denied != 0 {
		t.Errorf("Denied = %d, want 0", r.Denied)
	}
	checkDec(t, "loose after second denied call", peek(t, s, T0.Add(2*time.Second), loose), "1")

	// Empty call: trivially admitted.
	if r, err := s.Reserve(context.Background(), T0, nil); err != nil || !r.Admitted {
		t.Errorf("Reserve(no charges) = %+v, %v; want admitted", r, err)
	}
}

func testSameCounterTwice(t *testing.T, s state.Store) {
	c := Charge("calls", time.Minute, "1", "1")
	mustDeny(t, s, T0, c, c)
	checkDec(t, "total", peek(t, s, T0, c), "0")
	c.Limit = Dec("2")
	r := mustAdmit(t, s, T0, c, c)
	checkDec(t, "totals[0]", r.Totals[0], "2")
	if err := s.Refund(context.Background(), r.Reservation); err != nil {
		t.Fatal(err)
	}
	checkDec(t, "total after refund", peek(t, s, T0, c), "0")
}

func testStrictLimit(t *testing.T, s state.Store) {
	incl := Charge("incl", time.Minute, "1", "3")
	strict := Charge("strict", time.Minute, "1", "3")
	strict.Strict = true
	var nIncl, nStrict int
	for i := range 5 {
		now := T0.Add(time.Duration(i) * time.Second)
		if reserve(t, s, now, incl).Admitted {
			nIncl++
		}
		if reserve(t, s, now, strict).Admitted {
			nStrict++
		}
	}
	if nIncl != 3 || nStrict != 2 {
		t.Errorf("admitted inclusive %d, strict %d; want 3 and 2", nIncl, nStrict)
	}
}

func testExactDecimals(t *testing.T, s state.Store) {
	spend := Charge("spend", 24*time.Hour, "0.50", "1.00")
	mustAdmit(t, s, T0, spend)
	spend.Amount = Dec("0.25")
	mustAdmit(t, s, T0.Add(time.Second), spend)
	r := mustAdmit(t, s, T0.Add(2*time.Second), spend)
	checkDec(t, "total", r.Totals[0], "1.00")
	spend.Amount = Dec("0.01")
	mustDeny(t, s, T0.Add(3*time.Second), spend)

	// 0.1 + 0.2 is exactly 0.3, which binary floating point gets wrong.
	tenths := Charge("tenths", time.Hour, "0.1", "0.3")
	mustAdmit(t, s, T0, tenths)
	tenths.Amount = Dec("0.2")
	r = mustAdmit(t, s, T0, tenths)
	checkDec(t, "0.1+0.2", r.Totals[0], "0.3")
	tenths.Amount = Dec("0.000000001")
	mustDeny(t, s, T0, tenths)

	big := Charge("big", time.Hour, "12345678901234567.123456789", "99999999999999999999")
	r = mustAdmit(t, s, T0, big)
	r = mustAdmit(t, s, T0, big)
	checkDec(t, "big total", r.Totals[0], "24691357802469134.246913578")

	// Cents around 10^13, where a total outgrows 15 significant digits,
	// added and given back.
	edge := Charge("edge", time.Hour, "9999999999999.99", "100000000000000")
	mustAdmit(t, s, T0, edge)
	edge.Amount = Dec("0.01")
	r = mustAdmit(t, s, T0, edge)
	checkDec(t, "edge total", r.Totals[0], "10000000000000.00")
	r = mustAdmit(t, s, T0, edge)
	checkDec(t, "edge total", r.Totals[0], "10000000000000.01")
	if err := s.Refund(context.Background(), r.Reservation); err != nil {
		t.Fatal(err)
	}
	checkDec(t, "edge total after a refund", peek(t, s, T0, edge), "10000000000000.00")
	edge.Amount = Dec("89999999999999.99")
	r = mustAdmit(t, s, T0, edge)
	checkDec(t, "edge total at the limit", r.Totals[0], "99999999999999.99")
}

func testRefundFreesCapacity(t *testing.T, s state.Store) {
	ctx := context.Background()
	a := Charge("a", time.Minute, "1", "1")
	b := Charge("b", time.Minute, "2", "2")
	r := mustAdmit(t, s, T0, a, b)
	mustDeny(t, s, T0.Add(time.Second), a)
	if err := s.Refund(ctx, r.Reservation); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	checkDec(t, "a after refund", peek(t, s, T0.Add(time.Second), a), "0")
	checkDec(t, "b after refund", peek(t, s, T0.Add(time.Second), b), "0")
	mustAdmit(t, s, T0.Add(time.Second), a, b)

	cal := calendar(Charge("cal", time.Hour, "1", "1"), nil)
	r = mustAdmit(t, s, T0, cal)
	if err := s.Refund(ctx, r.Reservation); err != nil {
		t.Fatalf("Refund: %v", err)
	}
	mustAdmit(t, s, T0, cal)
}

func testCommitRefundIdempotent(t *testing.T, s state.Store) {
	ctx := context.Background()
	c := Charge("calls", time.Minute, "1", "2")
	r1 := mustAdmit(t, s, T0, c)
	r2 := mustAdmit(t, s, T0, c)
	if r1.Reservation == r2.Reservation {
		t.Fatalf("two reservations share id %q", r1.Reservation)
	}
	for i := range 2 {
		if err := s.Commit(ctx, r1.Reservation); err != nil {
			t.Fatalf("Commit #%d: %v", i+1, err)
		}
		if err := s.Refund(ctx, r2.Reservation); err != nil {
			t.Fatalf("Refund #%d: %v", i+1, err)
		}
	}
	checkDec(t, "total after commit+refund twice", peek(t, s, T0, c), "1")
	// Commit is final.
	if err := s.Refund(ctx, r1.Reservation); err != nil {
		t.Fatalf("Refund after Commit: %v", err)
	}
	checkDec(t, "total after refunding a committed reservation", peek(t, s, T0, c), "1")
	// Refund after Refund then Commit: still refunded.
	if err := s.Commit(ctx, r2.Reservation); err != nil {
		t.Fatalf("Commit after Refund: %v", err)
	}
	for _, id := range []string{"", "unknown", "m999999", "x-1:2"} {
		if err := s.Commit(ctx, id); err != nil {
			t.Errorf("Commit(%q): %v", id, err)
		}
		if err := s.Refund(ctx, id); err != nil {
			t.Errorf("Refund(%q): %v", id, err)
		}
	}
	checkDec(t, "total at the end", peek(t, s, T0, c), "1")
}

// KeepCharges returns a rate charge marked KeepOnRefund (as the gate marks a
// rate limit, limit 2 a minute) and a refundable spend charge (0.60 under
// 1.00 a minute): the reservation of a call whose failure is refunded.
func KeepCharges() (rate, spend state.Charge) {
	rate = Charge("calls", time.Minute, "1", "2")
	rate.KeepOnRefund = true
	spend = Charge("spend", time.Minute, "0.60", "1.00")
	return rate, spend
}

// A refund gives back the refundable charge and leaves the kept one counted,
// once: a second refund changes nothing.
func testRefundKeepsKeptCharges(t *testing.T, s state.Store) {
	ctx := context.Background()
	rate, spend := KeepCharges()
	r := mustAdmit(t, s, T0, rate, spend)
	for i := range 2 {
		if err := s.Refund(ctx, r.Reservation); err != nil {
			t.Fatalf("Refund #%d: %v", i+1, err)
		}
		checkDec(t, fmt.Sprintf("kept rate count after refund #%d", i+1), peek(t, s, T0, rate), "1")
		checkDec(t, fmt.Sprintf("spend after refund #%d", i+1), peek(t, s, T0, spend), "0")
	}
	// The spend was given back (0.60 fits again) but the rate limit still
	// counts the failed call: one more call fits, not two.
	mustAdmit(t, s, T0.Add(time.Second), rate, spend)
	r = mustDeny(t, s, T0.Add(2*time.Second), rate)
	checkDec(t, "rate total when denied", r.Totals[0], "2")
	checkDec(t, "spend at the end", peek(t, s, T0.Add(2*time.Second), spend), "0.60")
}

// Two charges of one reservation on the same counter, one kept and one not,
// in both orders and with different amounts: the refund takes off exactly the
// refundable one.
func testRefundKeepsKeptChargeOnSameCounter(t *testing.T, s state.Store) {
	ctx := context.Background()
	for i, keepFirst := range []bool{true, false} {
		kept := Charge(fmt.Sprint("mixed", i), time.Minute, "1", "100")
		kept.KeepOnRefund = true
		given := kept
		given.KeepOnRefund, given.Amount = false, Dec("10")
		charges := []state.Charge{kept, given}
		if !keepFirst {
			charges = []state.Charge{given, kept}
		}
		r := mustAdmit(t, s, T0, charges...)
		checkDec(t, "total before refund", r.Totals[0], "11")
		for range 2 {
			if err := s.Refund(ctx, r.Reservation); err != nil {
				t.Fatal(err)
			}
		}
		checkDec(t, fmt.Sprintf("total after refund (kept charge first: %v)", keepFirst), peek(t, s, T0, kept), "1")
	}
}

// A reservation whose charges are all kept refunds to no effect.
func testRefundOnlyKeptCharges(t *testing.T, s state.Store) {
	rate, _ := KeepCharges()
	cal := calendar(Charge("cal", time.Hour, "1", "5"), nil)
	cal.KeepOnRefund = true
	r := mustAdmit(t, s, T0, rate, cal)
	if err := s.Refund(context.Background(), r.Reservation); err != nil {
		t.Fatal(err)
	}
	checkDec(t, "sliding", peek(t, s, T0, rate), "1")
	checkDec(t, "calendar", peek(t, s, T0, cal), "1")
}

// An event at t counts in (t, t+window): until t+window exclusive, whatever
// the bucket boundaries.
func testSlidingWindowStrict(t *testing.T, s state.Store) {
	c := Charge("calls", time.Minute, "1", "1")
	at := T0.Add(10 * time.Second) // 14:59:40
	mustAdmit(t, s, at, c)
	mustDeny(t, s, at.Add(30*time.Second), c) // 15:00:10, past a minute boundary
	mustDeny(t, s, at.Add(time.Minute-time.Millisecond), c)
	checkDec(t, "just before t+window", peek(t, s, at.Add(time.Minute-time.Millisecond), c), "1")
	checkDec(t, "at t+window", peek(t, s, at.Add(time.Minute), c), "0")
	mustAdmit(t, s, at.Add(time.Minute), c)
}

// 20 calls spread over 3 seconds across a minute boundary, under 10/minute:
// exactly 10 pass (a fixed-bucket counter would let 20 through).
func testSlidingAcrossMinuteBoundary(t *testing.T, s state.Store) {
	c := Charge("calls", time.Minute, "1", "10")
	start := time.Date(2025, 3, 11, 14, 59, 58, 500_000_000, time.UTC)
	admitted := 0
	for i := range 20 {
		if reserve(t, s, start.Add(time.Duration(i)*150*time.Millisecond), c).Admitted {
			admitted++
		}
	}
	if admitted != 10 {
		t.Errorf("admitted %d of 20 calls in 3s across a minute boundary, want 10", admitted)
	}
}

func testRetryAfterSliding(t *testing.T, s state.Store) {
	c := Charge("calls", time.Minute, "1", "2")
	mustAdmit(t, s, T0, c)
	mustAdmit(t, s, T0.Add(10*time.Second), c)
	r := mustDeny(t, s, T0.Add(20*time.Second), c)
	if want := 40 * time.Second; r.RetryAfter != want {
		t.Errorf("RetryAfter = %v, want %v (when the oldest event leaves)", r.RetryAfter, want)
	}

	spend := Charge("spend", time.Minute, "3", "5")
	mustAdmit(t, s, T0, spend)
	spend.Amount = Dec("2")
	mustAdmit(t, s, T0.Add(10*time.Second), spend)
	spend.Amount = Dec("3")
	if r := mustDeny(t, s, T0.Add(20*time.Second), spend); r.RetryAfter != 40*time.Second {
		t.Errorf("RetryAfter(3 of 5 used) = %v, want 40s", r.RetryAfter)
	}
	spend.Amount = Dec("4")
	if r := mustDeny(t, s, T0.Add(20*time.Second), spend); r.RetryAfter != 50*time.Second {
		t.Errorf("RetryAfter(4 of 5 used) = %v, want 50s (both events must leave)", r.RetryAfter)
	}
	// The promise holds: at T0+60s (first event gone) 3 fits.
	spend.Amount = Dec("3")
	mustAdmit(t, s, T0.Add(60*time.Second), spend)
}

func testCalendarTimezone(t *testing.T, s state.Store) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	c := calendar(Charge("daily", 24*time.Hour, "1", "2"), ny)
	// 19:30 in New York is 23:30 UTC (EST, UTC-5).
	eve := time.Date(2025, 1, 14, 19, 30, 0, 0, ny)
	mustAdmit(t, s, eve, c)
	mustAdmit(t, s, eve.Add(time.Minute), c)
	// UTC midnight passes: not a boundary in New York.
	r := mustDeny(t, s, eve.Add(time.Hour), c)
	midnightNY := time.Date(2025, 1, 15, 0, 0, 0, 0, ny)
	if want := midnightNY.Sub(eve.Add(time.Hour)); r.RetryAfter != want {
		t.Errorf("RetryAfter = %v, want %v (to midnight in New York)", r.RetryAfter, want)
	}
	mustDeny(t, s, midnightNY.Add(-time.Nanosecond), c)
	checkDec(t, "after NY midnight", peek(t, s, midnightNY, c), "0")
	r = mustAdmit(t, s, midnightNY, c)
	checkDec(t, "first call of the new day", r.Totals[0], "1")

	// The same key in UTC is a different counter with UTC days.
	u := calendar(Charge("daily", 24*time.Hour, "1", "1"), nil)
	mustAdmit(t, s, time.Date(2025, 1, 14, 23, 59, 0, 0, time.UTC), u)
	mustAdmit(t, s, time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC), u)
}

func testRetryAfterCalendar(t *testing.T, s state.Store) {
	c := calendar(Charge("hourly", time.Hour, "1", "1"), nil)
	mustAdmit(t, s, T0, c) // 14:59:30
	r := mustDeny(t, s, T0.Add(10*time.Second), c)
	if want := 20 * time.Second; r.RetryAfter != want {
		t.Errorf("RetryAfter = %v, want %v (next hour boundary)", r.RetryAfter, want)
	}
	mustAdmit(t, s, T0.Add(30*time.Second), c) // 15:00:00, a new hour
	m := calendar(Charge("minutely", time.Minute, "1", "1"), nil)
	mustAdmit(t, s, T0.Add(29*time.Second), m) // 14:59:59
	mustAdmit(t, s, T0.Add(30*time.Second), m) // 15:00:00
}

func testRetryAfterNever(t *testing.T, s state.Store) {
	c := Charge("spend", time.Minute, "11", "10")
	r := mustDeny(t, s, T0, c)
	if r.RetryAfter != 0 {
		t.Errorf("RetryAfter for amount > limit = %v, want 0", r.RetryAfter)
	}
	c = Charge("strict", time.Minute, "10", "10")
	c.Strict = true
	if r := mustDeny(t, s, T0, c); r.RetryAfter != 0 {
		t.Errorf("RetryAfter for strict amount == limit = %v, want 0", r.RetryAfter)
	}
	cal := calendar(Charge("cal", time.Hour, "11", "10"), nil)
	if r := mustDeny(t, s, T0, cal); r.RetryAfter != 0 {
		t.Errorf("calendar RetryAfter for amount > limit = %v, want 0", r.RetryAfter)
	}
}

// A caller whose clock lags the one that recorded the blocking event is never
// told to wait longer than the window.
func testRetryAfterAtMostWindow(t *testing.T, s state.Store) {
	c := Charge("calls", time.Minute, "1", "1")
	mustAdmit(t, s, T0.Add(time.Second), c)
	r := mustDeny(t, s, T0, c)
	if r.RetryAfter <= 0 || r.RetryAfter > c.Window {
		t.Errorf("RetryAfter = %v, want within (0, %v]", r.RetryAfter, c.Window)
	}
}

func testPeek(t *testing.T, s state.Store) {
	c := Charge("calls", time.Minute, "2.5", "100")
	checkDec(t, "unknown counter", peek(t, s, T0, c), "0")
	mustAdmit(t, s, T0, c)
	mustAdmit(t, s, T0.Add(time.Second), c)
	for range 3 {
		checkDec(t, "peek", peek(t, s, T0.Add(2*time.Second), c), "5")
	}
	checkDec(t, "peek after the first left", peek(t, s, T0.Add(time.Minute), c), "2.5")
	other := c
	other.Key.Who = "session:x"
	checkDec(t, "other who", peek(t, s, T0, other), "0")
}

func testExpiry(t *testing.T, s state.Store) {
	c := Charge("calls", time.Minute, "1", "5")
	for i := range 5 {
		mustAdmit(t, s, T0.Add(time.Duration(i)*time.Second), c)
	}
	mustDeny(t, s, T0.Add(5*time.Second), c)
	later := T0.Add(2 * time.Hour)
	checkDec(t, "two hours later", peek(t, s, later, c), "0")
	for i := range 5 {
		r := mustAdmit(t, s, later.Add(time.Duration(i)*time.Millisecond), c)
		checkDec(t, "total", r.Totals[0], fmt.Sprint(i+1))
	}
	mustDeny(t, s, later.Add(time.Second), c)

	cal := calendar(Charge("daily", 24*time.Hour, "1", "1"), nil)
	mustAdmit(t, s, T0, cal)
	mustAdmit(t, s, T0.Add(72*time.Hour), cal)
	checkDec(t, "calendar a week later", peek(t, s, T0.Add(7*24*time.Hour), cal), "0")
}

func testWindowIsIdentity(t *testing.T, s state.Store) {
	minute := Charge("calls", time.Minute, "1", "1")
	hour := Charge("calls", time.Hour, "1", "1")
	mustAdmit(t, s, T0, minute)
	mustAdmit(t, s, T0, hour)
	cal := calendar(Charge("calls", time.Minute, "1", "1"), nil)
	mustAdmit(t, s, T0, cal)
	checkDec(t, "minute", peek(t, s, T0, minute), "1")
}

func testInvalidCharge(t *testing.T, s state.Store) {
	for _, c := range []state.Charge{
		Charge("zero", time.Minute, "0", "1"),
		Charge("negative", time.Minute, "-1", "1"),
		Charge("nowindow", 0, "1", "1"),
		Charge("neglimit", time.Minute, "1", "-1"),
	} {
		_, err := s.Reserve(context.Background(), T0, []state.Charge{Charge("ok", time.Minute, "1", "1"), c})
		if !errors.Is(err, state.ErrInvalidCharge) || errors.Is(err, state.ErrUnavailable) {
			t.Errorf("Reserve(%s) error = %v, want ErrInvalidCharge", c.Key.Counter, err)
		}
	}
	checkDec(t, "ok counter untouched", peek(t, s, T0, Charge("ok", time.Minute, "1", "1")), "0")
}

// ConcurrentN is how many goroutines the concurrency tests start.
const ConcurrentN = 200

func testConcurrentExact(t *testing.T, s state.Store) {
	c := Charge("calls", time.Minute, "1", "37")
	var admitted atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, ConcurrentN)
	for i := range ConcurrentN {
		wg.Go(func() {
			r, err := s.Reserve(context.Background(), T0.Add(time.Duration(i)*time.Millisecond), []state.Charge{c})
			if err != nil {
				errs <- err
				return
			}
			if r.Admitted {
				admitted.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Reserve: %v", err)
	}
	if got := admitted.Load(); got != 37 {
		t.Errorf("admitted %d of %d concurrent calls under a limit of 37", got, ConcurrentN)
	}
	checkDec(t, "total", peek(t, s, T0.Add(time.Second), c), "37")
}

// Each call charges a shared spend cap and one of four per-session counters;
// the per-session counters are tight, so many calls fail on the second charge
// and must leave the first untouched.
func testConcurrentMultiCounter(t *testing.T, s state.Store) {
	ctx := context.Background()
	spend := Charge("spend", time.Hour, "0.25", "1000")
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for i := range ConcurrentN {
		wg.Go(func() {
			sess := Charge("calls", time.Hour, "1", "5")
			sess.Key.Who = fmt.Sprintf("session:%d", i%4)
			r, err := s.Reserve(ctx, T0, []state.Charge{spend, sess})
			if err != nil {
				t.Errorf("Reserve: %v", err)
				return
			}
			if r.Admitted {
				admitted.Add(1)
				if i%2 == 0 {
					s.Commit(ctx, r.Reservation)
				}
			}
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != 20 {
		t.Errorf("admitted %d, want 20 (4 sessions x 5)", got)
	}
	checkDec(t, "spend", peek(t, s, T0, spend), "5.00")
}

func testCloseTwice(t *testing.T, s state.Store) {
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := s.Reserve(context.Background(), T0, []state.Charge{Charge("c", time.Minute, "1", "1")})
	if !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("Reserve after Close: %v, want ErrUnavailable", err)
	}
}
