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
const schemaVersion = 2

// schema is idempotent so that any number of processes may run it; each runs
// it inside BEGIN IMMEDIATE, so they take turns.
//
// counters holds one row per counter identity (name is ledger.AppendID), with
// its shape (window, alignment, location) so that a refund can rebuild it
// from its id alone. events holds one row per recorded charge; a counter's
// total is always the sum of its events' amounts, and expires is when the
// last of them leaves its window (a row past it is dead and pruned). keep
// marks a charge that a refund leaves counted (state.Charge.KeepOnRefund), so
// that a refund applied by another process or after a restart honours it.
// Amounts are exact decimal strings.
//
// Version 2 added events.keep; a version 1 file is upgraded in place (its
// events get keep = 0, the old behaviour) and stays usable by version 1
// binaries already running, which do not write the column.
const schema = `
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (
	id         INTEGER PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	window_ns  INTEGER NOT NULL,
	calendar   INTEGER NOT NULL,
	loc        TEXT NOT NULL,
	total      TEXT NOT NULL,
	bucket     INTEGER NOT NULL,
	bucket_end INTEGER NOT NULL,
	expires    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS counters_expires ON counters (expires);
CREATE TABLE IF NOT EXISTS events (
	res     TEXT NOT NULL,
	idx     INTEGER NOT NULL,
	counter INTEGER NOT NULL,
	at      INTEGER NOT NULL,
	amount  TEXT NOT NULL,
	keep    INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (res, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_counter_at ON events (counter, at);
INSERT INTO meta (key, value) VALUES ('schema_version', '2') ON CONFLICT DO NOTHING;
`

// upgrades[v] brings a version v file to version v+1.
var upgrades = map[int]string{
	1: `ALTER TABLE events ADD COLUMN keep INTEGER NOT NULL DEFAULT 0;
UPDATE meta SET value = '2' WHERE key = 'schema_version';`,
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
