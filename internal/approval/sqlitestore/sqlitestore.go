// Package sqlitestore is the embedded approval.Store: its own tables in the
// same SQLite file as the counters (state.db under the state directory),
// either through the counters' own handle (New, as Tollgate opens it: one
// handle per file, see package backend) or through a handle of its own with
// the counters' pragmas (Open: WAL, synchronous=NORMAL, busy_timeout). Every operation is one BEGIN IMMEDIATE
// transaction, so a read-then-write (consuming an approval) is atomic
// against every other connection, in this process or another.
//
// The tables are approvals and approvals_meta; the counters' tables and
// their meta schema version are never touched. The schema is created with
// CREATE TABLE IF NOT EXISTS inside BEGIN IMMEDIATE, so any number of
// processes may open a fresh file at once.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/state/sqliteschema"
)

var _ approval.Store = (*Store)(nil)

// schemaVersion is the approvals layout this code writes. Version 2 added
// the signature column (ALTER TABLE on files of version 1). A tollgate that
// only knows version 1 refuses a version 2 file: it would honour approvals
// nobody signed.
const schemaVersion = 2

const schema = `
CREATE TABLE IF NOT EXISTS approvals_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS approvals (
	id          TEXT PRIMARY KEY,
	fingerprint TEXT NOT NULL,
	status      TEXT NOT NULL,
	tool        TEXT NOT NULL,
	args        TEXT NOT NULL,
	args_hash   TEXT NOT NULL,
	rule        TEXT NOT NULL,
	reason      TEXT NOT NULL,
	policy_rev  TEXT NOT NULL,
	session     TEXT NOT NULL,
	identity    TEXT NOT NULL,
	created_ms  INTEGER NOT NULL,
	expires_ms  INTEGER NOT NULL,
	decided_ms  INTEGER NOT NULL,
	approver    TEXT NOT NULL,
	note        TEXT NOT NULL,
	consumed_ms INTEGER NOT NULL,
	signature   TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS approvals_fp ON approvals (fingerprint);
CREATE INDEX IF NOT EXISTS approvals_created ON approvals (created_ms);
CREATE INDEX IF NOT EXISTS approvals_expires ON approvals (expires_ms);
INSERT INTO approvals_meta (key, value) VALUES ('schema_version', '2') ON CONFLICT DO NOTHING;
`

// Retention is how long a record is kept after its expiry (for list and
// show); older records are deleted as new ones are created.
const Retention = 7 * 24 * time.Hour

// Options tunes a Store; the zero value is ready to use.
type Options struct {
	// BusyTimeout bounds how long a transaction waits for another
	// connection's write lock (default 5s).
	BusyTimeout time.Duration
	// OpenTimeout bounds retries while other processes create the same
	// file (default 30s).
	OpenTimeout time.Duration
}

// Store is a SQLite-backed approval.Store. All methods are safe for
// concurrent use. Each operation is a transaction on one connection of the
// handle; Open's handle has one, so its operations take turns.
type Store struct {
	db     *sql.DB
	ownsDB bool // Open's handle, closed with the Store
	closed atomic.Bool
	close  sync.Once
	err    error
}

// Open opens (creating if needed) the SQLite file at path, its parent
// directory (mode 0700) and the approval tables.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 30 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open approvals in %s: %w: %w", path, approval.ErrUnavailable, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open approvals in %s: %w: %w", path, approval.ErrUnavailable, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	s, err := New(ctx, db, opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open approvals in %s: %w", path, err)
	}
	s.ownsDB = true
	return s, nil
}

// New makes a Store over db, a handle on a Tollgate state file that others
// may share (the counters' sqlitestore.OpenDB: WAL, busy timeout), and
// creates the approval tables if needed. Each operation takes one of db's
// connections for its transaction. Close leaves db open for its owner.
func New(ctx context.Context, db *sql.DB, opts Options) (*Store, error) {
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 30 * time.Second
	}
	if err := sqliteschema.Create(ctx, db, opts.OpenTimeout, "approval tables", migrate); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

func migrate(ctx context.Context, c *sql.Conn) error {
	if _, err := c.ExecContext(ctx, schema); err != nil {
		return err
	}
	var v string
	if err := c.QueryRowContext(ctx, "SELECT value FROM approvals_meta WHERE key = 'schema_version'").Scan(&v); err != nil {
		return err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n > schemaVersion {
		return fmt.Errorf("approvals schema version %q is newer than this tollgate understands (%d)", v, schemaVersion)
	}
	if n < 2 {
		// A version 1 file: CREATE TABLE IF NOT EXISTS kept its table as it
		// was, without the signature column.
		var has int
		if err := c.QueryRowContext(ctx, `SELECT COUNT(*) FROM pragma_table_info('approvals') WHERE name = 'signature'`).Scan(&has); err != nil {
			return err
		}
		if has == 0 {
			if _, err := c.ExecContext(ctx, `ALTER TABLE approvals ADD COLUMN signature TEXT NOT NULL DEFAULT ''`); err != nil {
				return err
			}
		}
		if _, err := c.ExecContext(ctx, `UPDATE approvals_meta SET value = ? WHERE key = 'schema_version'`, strconv.Itoa(schemaVersion)); err != nil {
			return err
		}
	}
	return nil
}

// tx runs fn inside BEGIN IMMEDIATE on the store's connection and commits,
// or rolls back when fn fails (a commitWith error commits, then is returned). Errors of fn that are approval's own
// sentinels come back unwrapped; anything else wraps ErrUnavailable.
func (s *Store) tx(ctx context.Context, fn func(context.Context, *sql.Conn) error) (err error) {
	if s.closed.Load() {
		return errClosed
	}
	c, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", approval.ErrUnavailable, err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return fmt.Errorf("%w: %w", approval.ErrUnavailable, err)
	}
	ferr := fn(ctx, c)
	var cw commitWith
	if ferr != nil && !errors.As(ferr, &cw) {
		c.ExecContext(context.Background(), "ROLLBACK")
		err := ferr
		if isSentinel(err) {
			return err
		}
		return fmt.Errorf("%w: %w", approval.ErrUnavailable, err)
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		c.ExecContext(context.Background(), "ROLLBACK")
		return fmt.Errorf("%w: %w", approval.ErrUnavailable, err)
	}
	return ferr
}

// commitWith is returned by a tx function that must write and still report
// a sentinel error (a record found expired is marked so).
type commitWith struct{ err error }

func (c commitWith) Error() string { return c.err.Error() }
func (c commitWith) Unwrap() error { return c.err }

func isSentinel(err error) bool {
	for _, s := range []error{approval.ErrNotFound, approval.ErrNotPending, approval.ErrExpired, approval.ErrNotApproved} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

const columns = `id, fingerprint, status, tool, args, args_hash, rule, reason, policy_rev, session, identity,
	created_ms, expires_ms, decided_ms, approver, note, consumed_ms, signature`

type scanner interface{ Scan(dest ...any) error }

func scan(sc scanner) (approval.Record, error) {
	var r approval.Record
	var status string
	var created, expires, decided, consumed int64
	err := sc.Scan(&r.ID, &r.Fingerprint, &status, &r.Tool, &r.Args, &r.ArgsHash, &r.Rule, &r.Reason, &r.PolicyRev,
		&r.Session, &r.Identity, &created, &expires, &decided, &r.Approver, &r.Note, &consumed, &r.Signature)
	r.Status = approval.Status(status)
	r.CreatedAt, r.ExpiresAt = approval.FromMillis(created), approval.FromMillis(expires)
	r.DecidedAt, r.ConsumedAt = approval.FromMillis(decided), approval.FromMillis(consumed)
	return r, err
}

func put(ctx context.Context, c *sql.Conn, r approval.Record) error {
	_, err := c.ExecContext(ctx, `INSERT INTO approvals (`+columns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET status = excluded.status, decided_ms = excluded.decided_ms,
			approver = excluded.approver, note = excluded.note, consumed_ms = excluded.consumed_ms,
			signature = excluded.signature`,
		r.ID, r.Fingerprint, string(r.Status), r.Tool, r.Args, r.ArgsHash, r.Rule, r.Reason, r.PolicyRev,
		r.Session, r.Identity, approval.ToMillis(r.CreatedAt), approval.ToMillis(r.ExpiresAt),
		approval.ToMillis(r.DecidedAt), r.Approver, r.Note, approval.ToMillis(r.ConsumedAt), r.Signature)
	return err
}

func get(ctx context.Context, c *sql.Conn, id string) (approval.Record, error) {
	r, err := scan(c.QueryRowContext(ctx, `SELECT `+columns+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, approval.ErrNotFound
	}
	return r, err
}

// Begin implements approval.Store.
func (s *Store) Begin(ctx context.Context, req approval.BeginRequest) (approval.BeginResult, error) {
	var res approval.BeginResult
	err := s.tx(ctx, func(ctx context.Context, c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, `SELECT `+columns+` FROM approvals WHERE fingerprint = ?`, req.New.Fingerprint)
		if err != nil {
			return err
		}
		var recs []approval.Record
		for rows.Next() {
			r, err := scan(rows)
			if err != nil {
				rows.Close()
				return err
			}
			recs = append(recs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		var writes []approval.Record
		res, writes = approval.Plan(recs, req)
		for _, w := range writes {
			if err := put(ctx, c, w); err != nil {
				return err
			}
		}
		if res.Outcome == approval.Requested {
			_, err := c.ExecContext(ctx, `DELETE FROM approvals WHERE expires_ms < ?`, req.Now.Add(-Retention).UnixMilli())
			return err
		}
		return nil
	})
	return res, err
}

// change runs a read-modify-write of one record.
func (s *Store) change(ctx context.Context, id string, apply func(*approval.Record) error) (approval.Record, error) {
	if !approval.ValidID(id) {
		return approval.Record{}, approval.ErrNotFound
	}
	var out approval.Record
	err := s.tx(ctx, func(ctx context.Context, c *sql.Conn) error {
		r, err := get(ctx, c, id)
		if err != nil {
			return err
		}
		before := r.Status
		aerr := apply(&r)
		out = r
		if r.Status != before {
			if err := put(ctx, c, r); err != nil {
				return err
			}
		}
		if aerr != nil {
			// Keep the write (an expired record is marked so) and still
			// report the sentinel.
			return commitWith{aerr}
		}
		return nil
	})
	var cw commitWith
	if errors.As(err, &cw) {
		return out, cw.err
	}
	return out, err
}

// Decide implements approval.Store.
func (s *Store) Decide(ctx context.Context, id string, d approval.Decision) (approval.Record, error) {
	return s.change(ctx, id, func(r *approval.Record) error { return approval.ApplyDecision(r, d) })
}

// Consume implements approval.Store.
func (s *Store) Consume(ctx context.Context, id string, now time.Time) (approval.Record, error) {
	return s.change(ctx, id, func(r *approval.Record) error { return approval.ApplyConsume(r, now) })
}

// Restore implements approval.Store.
func (s *Store) Restore(ctx context.Context, id string) error {
	_, err := s.change(ctx, id, func(r *approval.Record) error { approval.ApplyRestore(r); return nil })
	if errors.Is(err, approval.ErrNotFound) {
		return nil
	}
	return err
}

// Get implements approval.Store.
func (s *Store) Get(ctx context.Context, id string, now time.Time) (approval.Record, error) {
	if !approval.ValidID(id) {
		return approval.Record{}, approval.ErrNotFound
	}
	if s.closed.Load() {
		return approval.Record{}, errClosed
	}
	r, err := scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM approvals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, approval.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("get approval: %w: %w", approval.ErrUnavailable, err)
	}
	return approval.Effective(r, now), nil
}

// List implements approval.Store.
func (s *Store) List(ctx context.Context, f approval.Filter) ([]approval.Record, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	now, limit := f.Now, f.Limit
	if now.IsZero() {
		now = time.Now()
	}
	if limit <= 0 {
		limit = 100
	}
	var where []string
	var args []any
	nowMS := now.UnixMilli()
	switch f.Status {
	case "":
	case approval.Pending, approval.Approved:
		where, args = append(where, "status = ? AND expires_ms > ?"), append(args, string(f.Status), nowMS)
	case approval.Expired:
		where, args = append(where, "(status = 'expired' OR (status IN ('pending', 'approved') AND expires_ms <= ?))"), append(args, nowMS)
	default:
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	q := `SELECT ` + columns + ` FROM approvals`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_ms DESC, id LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list approvals: %w: %w", approval.ErrUnavailable, err)
	}
	defer rows.Close()
	var out []approval.Record
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list approvals: %w: %w", approval.ErrUnavailable, err)
		}
		out = append(out, approval.Effective(r, now))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list approvals: %w: %w", approval.ErrUnavailable, err)
	}
	return out, nil
}

var errClosed = fmt.Errorf("approvals: closed: %w", approval.ErrUnavailable)

// Close implements approval.Store. It closes the handle only if Open
// opened it.
func (s *Store) Close() error {
	s.close.Do(func() {
		s.closed.Store(true)
		if s.ownsDB {
			s.err = s.db.Close()
		}
	})
	return s.err
}
