package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// schemaV1 is the layout of the first release of the store, before
// events.keep.
const schemaV1 = `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE counters (
	id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, window_ns INTEGER NOT NULL,
	calendar INTEGER NOT NULL, loc TEXT NOT NULL, total TEXT NOT NULL,
	bucket INTEGER NOT NULL, bucket_end INTEGER NOT NULL, expires INTEGER NOT NULL
);
CREATE INDEX counters_expires ON counters (expires);
CREATE TABLE events (
	res TEXT NOT NULL, idx INTEGER NOT NULL, counter INTEGER NOT NULL,
	at INTEGER NOT NULL, amount TEXT NOT NULL, PRIMARY KEY (res, idx)
) WITHOUT ROWID;
CREATE INDEX events_counter_at ON events (counter, at);
INSERT INTO meta (key, value) VALUES ('schema_version', '1');
`

// TestUpgradeFromVersion1 opens a file written by the first layout (and so
// runs every upgrade): its counts are kept, and its reservations can still be
// refunded.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	c := storetest.Charge("calls", time.Minute, "1", "3")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	name := string(ledger.AppendID(nil, &c))
	at := storetest.T0.UnixNano()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{schemaV1, nil},
		{`INSERT INTO counters VALUES (1, ?, ?, 0, 'UTC', '2', 0, 0, ?)`, []any{name, int64(time.Minute), at + int64(time.Minute)}},
		{`INSERT INTO events VALUES ('old-1', 0, 1, ?, '1'), ('old-2', 0, 1, ?, '1')`, []any{at, at}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	db.Close()

	s := open(t, path)
	defer s.Close()
	total := func() string {
		t.Helper()
		d, err := s.Peek(ctx, storetest.T0, c.Key, c.Window, c.Align, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d.String()
	}
	if got := total(); got != "2" {
		t.Errorf("total after the upgrade = %s, want 2", got)
	}
	if err := s.Refund(ctx, "old-1"); err != nil {
		t.Fatal(err)
	}
	if got := total(); got != "1" {
		t.Errorf("total after refunding a version 1 reservation = %s, want 1", got)
	}
	rate, spend := storetest.KeepCharges()
	r, err := s.Reserve(ctx, storetest.T0, []state.Charge{rate, spend})
	if err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	s.Close()

	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "3" {
		t.Errorf("schema_version after the upgrade = %s, want 3", v)
	}
	var old int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE name IN ('events', 'counters')`).Scan(&old); err != nil {
		t.Fatal(err)
	}
	if old != 0 {
		t.Errorf("%d tables of version 1 left after the upgrade", old)
	}
}
