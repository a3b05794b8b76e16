package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// schemaVersion is the layout this code writes. Later features (approvals)
// add tables under a new version; meta.schema_version tells an old binary
// that the file is newer than it understands.
const schemaVersion = 3

// schema is idempotent so that any number of processes may run it; each runs
// it inside BEGIN IMMEDIATE, so they take turns.
//
// entries is an append-only log, one row per recorded charge: name is the
// counter's identity (ledger.AppendID, which also spells out its window and
// alignment), at when it was recorded, (res, idx) the charge of a reservation
// (an id "<instance>.<base 36 seq>" says its charge idx is row seq+idx),
// amount an exact decimal string, keep marks a charge that a refund leaves
// counted (state.Charge.KeepOnRefund). A refund appends a row for each charge
// it gives back: same name, res, idx and at, amount NULL. A counter's total
// is the sum of its charges still in the window, less those refunded.
//
// seq is the row id, and it only grows: every process applies the rows it has
// not seen yet, in seq order, to its in-memory mirror. Rows are deleted once
// their charge has left its window (a refund row once the charge it refunds
// would have), never the row with the highest seq, so that SQLite never
// hands its seq out again. Writing a call is one INSERT that appends to the
// last page of one B-tree: usually one page per transaction.
const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entries (
	seq    INTEGER PRIMARY KEY,
	name   TEXT NOT NULL,
	at     INTEGER NOT NULL,
	res    TEXT NOT NULL,
	idx    INTEGER NOT NULL,
	amount TEXT,
	keep   INTEGER NOT NULL
);
INSERT INTO meta (key, value) VALUES ('schema_version', '3') ON CONFLICT DO NOTHING;
`

// upgrades[v] brings a version v file to version v+1. Version 1 kept one row
// per counter and one per charge (indexed by reservation and by counter);
// version 2 added events.keep; version 3 is the log. Binaries of an older
// version still running on an upgraded file fail their next transaction
// (ErrUnavailable) rather than miscount.
var upgrades = map[int]string{
	1: `ALTER TABLE events ADD COLUMN keep INTEGER NOT NULL DEFAULT 0;
UPDATE meta SET value = '2' WHERE key = 'schema_version';`,
	2: `INSERT INTO entries (name, at, res, idx, amount, keep)
	SELECT c.name, e.at, e.res, e.idx, e.amount, e.keep
	FROM events e JOIN counters c ON c.id = e.counter
	ORDER BY e.counter, e.at;
DROP TABLE events;
DROP TABLE counters;
UPDATE meta SET value = '3' WHERE key = 'schema_version';`,
}

func migrate(ctx context.Context, conn *sql.Conn) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, schema); err != nil {
		return err
	}
	var v string
	if err := conn.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'schema_version'").Scan(&v); err != nil {
		return err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n > schemaVersion {
		return fmt.Errorf("schema version %q is newer than this tollgate understands (%d)", v, schemaVersion)
	}
	for ; n < schemaVersion; n++ {
		up, ok := upgrades[n]
		if !ok {
			return fmt.Errorf("schema version %d: no upgrade to %d", n, n+1)
		}
		if _, err := conn.ExecContext(ctx, up); err != nil {
			return fmt.Errorf("upgrade schema version %d to %d: %w", n, n+1, err)
		}
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

// isBusy reports whether err is SQLite's "try again later": another
// connection holds a lock longer than busy_timeout, or a new file is being
// switched to WAL by someone else.
func isBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}
