// Package sqlitestore is the embedded calls.Store: a table of its own
// (calls, with calls_meta for its schema version) in Tollgate's SQLite
// state file, over the handle package backend opens for a --state spec
// (one *sql.DB per file). Every method is one statement in its own
// implicit transaction — an upsert whose update is conditional for Add,
// DELETE … RETURNING for Take — so each is atomic against every other
// connection, in this process or another. The counters', approvals' and
// pins' tables are never touched.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/calls"
	"github.com/tollgate-mcp/tollgate/internal/state/sqliteschema"
)

var _ calls.Store = (*Store)(nil)

// schemaVersion is the layout this code writes; a newer file is refused.
const schemaVersion = 1

// schema is idempotent, run inside BEGIN IMMEDIATE by any number of
// processes. expires_ms is when a record stops being one (Unix ms); the
// index lets the sweep find the expired ones without a scan.
const schema = `
CREATE TABLE IF NOT EXISTS calls_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS calls (
	key        TEXT PRIMARY KEY,
	val        BLOB NOT NULL,
	expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS calls_expires ON calls (expires_ms);
INSERT INTO calls_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT DO NOTHING;
`

// sweepEvery is how often (by the callers' clock) a Store deletes the
// expired records of every process, after a write of its own.
const sweepEvery = time.Minute

// Store is a SQLite calls.Store over a shared handle.
type Store struct {
	db        *sql.DB
	closed    atomic.Bool
	lastSweep atomic.Int64 // ms
}

// New makes a Store over db (a handle on a Tollgate state file, as
// state/sqlitestore.OpenDB opens it: WAL, busy timeout) and creates its
// table if needed, retrying for up to 30s while other processes hold the
// write lock. Close leaves db to its owner.
func New(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := sqliteschema.Create(ctx, db, 30*time.Second, "call table", migrate); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

func migrate(ctx context.Context, c *sql.Conn) error {
	if _, err := c.ExecContext(ctx, schema); err != nil {
		return err
	}
	var v string
	if err := c.QueryRowContext(ctx, "SELECT value FROM calls_meta WHERE key = 'schema_version'").Scan(&v); err != nil {
		return err
	}
	if n, err := strconv.Atoi(v); err != nil || n > schemaVersion {
		return fmt.Errorf("calls schema version %q is newer than this tollgate understands (%d)", v, schemaVersion)
	}
	return nil
}

var errClosed = fmt.Errorf("calls sqlitestore: %w: closed", calls.ErrUnavailable)

func unavailable(op string, err error) error {
	return fmt.Errorf("calls sqlitestore: %s: %w: %w", op, calls.ErrUnavailable, err)
}

// Add implements calls.Store: the insert turns into an update only over
// an expired record.
func (s *Store) Add(ctx context.Context, key string, val []byte, ttl time.Duration, now time.Time) (bool, error) {
	ms, err := calls.Millis(ttl)
	if err != nil {
		return false, err
	}
	if s.closed.Load() {
		return false, errClosed
	}
	at := now.UnixMilli()
	res, err := s.db.ExecContext(ctx, `INSERT INTO calls (key, val, expires_ms) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET val = excluded.val, expires_ms = excluded.expires_ms
		WHERE calls.expires_ms <= ?`, key, blob(val), at+ms, at)
	if err != nil {
		return false, unavailable("add", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, unavailable("add", err)
	}
	s.sweep(ctx, at)
	return n == 1, nil
}

// Put implements calls.Store.
func (s *Store) Put(ctx context.Context, key string, val []byte, ttl time.Duration, now time.Time) error {
	ms, err := calls.Millis(ttl)
	if err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	at := now.UnixMilli()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO calls (key, val, expires_ms) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET val = excluded.val, expires_ms = excluded.expires_ms`,
		key, blob(val), at+ms); err != nil {
		return unavailable("put", err)
	}
	s.sweep(ctx, at)
	return nil
}

// Get implements calls.Store.
func (s *Store) Get(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	if s.closed.Load() {
		return nil, false, errClosed
	}
	var val []byte
	err := s.db.QueryRowContext(ctx, `SELECT val FROM calls WHERE key = ? AND expires_ms > ?`, key, now.UnixMilli()).Scan(&val)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, unavailable("get", err)
	}
	return val, true, nil
}

// Take implements calls.Store. An expired record is deleted too, and
// reported absent.
func (s *Store) Take(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	if s.closed.Load() {
		return nil, false, errClosed
	}
	var val []byte
	var expires int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM calls WHERE key = ? RETURNING val, expires_ms`, key).Scan(&val, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, nil
	case err != nil:
		return nil, false, unavailable("take", err)
	}
	if expires <= now.UnixMilli() {
		return nil, false, nil
	}
	return val, true, nil
}

// sweep deletes the expired records once per sweepEvery of this Store's
// writes. A failed sweep is left to the next: it changes no answer.
func (s *Store) sweep(ctx context.Context, at int64) {
	last := s.lastSweep.Load()
	if at-last < sweepEvery.Milliseconds() || !s.lastSweep.CompareAndSwap(last, at) {
		return
	}
	s.db.ExecContext(ctx, `DELETE FROM calls WHERE expires_ms <= ?`, at)
}

// blob keeps an empty value a BLOB: a nil []byte would be bound as NULL.
func blob(val []byte) []byte {
	if val == nil {
		return []byte{}
	}
	return val
}

// Close implements calls.Store; the handle stays open for its owner.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}
