package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// A reservation is refunded once, whoever refunds it and however often,
// though the mirror no longer knows which reservation made which charge:
// many identical charges at the same instant, one reservation refunded twice
// by another process, then by its own.
func TestRefundOnceWhoeverRefunds(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	a, b := open(t, path), open(t, path)
	defer a.Close()
	defer b.Close()
	spend := storetest.Charge("spend", time.Minute, "0.5", "100")
	rate := storetest.Charge("rate", time.Minute, "1", "100")
	rate.KeepOnRefund = true
	var ids []string
	for range 5 {
		r, err := a.Reserve(ctx, storetest.T0, []state.Charge{rate, spend})
		if err != nil || !r.Admitted {
			t.Fatalf("Reserve: %+v, %v", r, err)
		}
		ids = append(ids, r.Reservation)
	}
	total := func(s *sqlitestore.Store, c state.Charge) string {
		t.Helper()
		d, err := s.Peek(ctx, storetest.T0, c.Key, c.Window, c.Align, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	for _, refund := range []struct {
		by  *sqlitestore.Store
		who string
	}{{b, "another store"}, {b, "another store, again"}, {a, "its own store"}, {a, "its own store, again"}} {
		if err := refund.by.Refund(ctx, ids[2]); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*sqlitestore.Store{a, b} {
			if got := total(s, spend); got != "2.0" {
				t.Errorf("after a refund by %s: spend = %s, want 2.0", refund.who, got)
			}
			if got := total(s, rate); got != "5" {
				t.Errorf("after a refund by %s: rate = %s, want 5 (kept on refund)", refund.who, got)
			}
		}
	}
	// A committed reservation is final in its own store.
	a.Commit(ctx, ids[3])
	a.Refund(ctx, ids[3])
	if got := total(b, spend); got != "2.0" {
		t.Errorf("after a refund of a committed reservation: spend = %s, want 2.0", got)
	}
	// What is left leaves its window whole.
	later := storetest.T0.Add(time.Minute)
	if d, err := b.Peek(ctx, later, spend.Key, spend.Window, spend.Align, nil); err != nil || !d.IsZero() {
		t.Errorf("spend a window later = %s, %v; want 0", &d, err)
	}
}

// Rows an older version wrote (reservation ids that name no row, refund
// rows naming their charge only by reservation and index) are counted and
// refunded exactly: a refund row it appended, a refund through this Store of
// one of its reservations, twice.
func TestRefundOfOlderVersionReservation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	defer s.Close()
	spend := storetest.Charge("spend", time.Minute, "0.5", "100")
	rate := storetest.Charge("rate", time.Minute, "1", "100")
	name := func(c state.Charge) string { return string(ledger.AppendID(nil, &c)) }
	at := storetest.T0.UnixNano()

	db, err := sqlitestore.OpenDB(path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	// Three reservations of an old process at the same instant: a kept
	// rate charge and a refundable spend charge each.
	for i, res := range []string{"0123456789ab-1", "0123456789ab-2", "0123456789ab-3"} {
		seq := int64(100 + 2*i)
		exec(`INSERT INTO entries (seq, name, at, res, idx, amount, keep) VALUES (?, ?, ?, ?, 0, '1', 1), (?, ?, ?, ?, 1, '0.5', 0)`,
			seq, name(rate), at, res, seq+1, name(spend), at, res)
	}
	total := func(c state.Charge) string {
		t.Helper()
		d, err := s.Peek(ctx, storetest.T0, c.Key, c.Window, c.Align, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	if got := total(spend); got != "1.5" {
		t.Fatalf("spend = %s, want 1.5", got)
	}
	// The old process refunds its first reservation.
	exec(`INSERT INTO entries (seq, name, at, res, idx, amount, keep) VALUES (200, ?, ?, '0123456789ab-1', 1, NULL, 0)`, name(spend), at)
	if got := total(spend); got != "1.0" {
		t.Errorf("after the old process's refund: spend = %s, want 1.0", got)
	}
	for range 2 {
		if err := s.Refund(ctx, "0123456789ab-2"); err != nil {
			t.Fatal(err)
		}
		if got := total(spend); got != "0.5" {
			t.Errorf("after refunding an old reservation: spend = %s, want 0.5", got)
		}
		if got := total(rate); got != "3" {
			t.Errorf("after refunding an old reservation: rate = %s, want 3 (kept on refund)", got)
		}
	}
	// A second store reads the whole file, refunds included.
	s2 := open(t, path)
	defer s2.Close()
	if d, err := s2.Peek(ctx, storetest.T0, spend.Key, spend.Window, spend.Align, nil); err != nil || d.String() != "0.5" {
		t.Errorf("spend read afresh = %s, %v; want 0.5", &d, err)
	}
}

// Every connection's page cache is small (see cacheKiB): the default
// 2000 KiB cost 3.5 MB of peak RSS under load.
func TestPageCacheSize(t *testing.T) {
	db, err := sqlitestore.OpenDB(filepath.Join(t.TempDir(), "state.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var kib int
	if err := db.QueryRow(`PRAGMA cache_size`).Scan(&kib); err != nil {
		t.Fatal(err)
	}
	if kib != -256 {
		t.Errorf("cache_size = %d, want -256 (KiB)", kib)
	}
}
