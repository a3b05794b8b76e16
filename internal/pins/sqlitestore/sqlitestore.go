// Package sqlitestore is the embedded pins.Backend: tables of its own
// (pins, pins_baselines, pins_meta) in Tollgate's SQLite state file, over
// the handle package backend opens for a --state spec (one *sql.DB per
// file). Each Update is one BEGIN IMMEDIATE transaction, so a read, change
// and write of one server's pins is atomic against every other connection,
// in this process or another. The counters' and the approvals' tables are
// never touched.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/pins"
	"github.com/tollgate-mcp/tollgate/internal/state/sqliteschema"
)

var _ pins.Backend = (*Backend)(nil)

// schemaVersion is the layout this code writes; a newer file is refused.
const schemaVersion = 1

// schema is idempotent, run inside BEGIN IMMEDIATE by any number of
// processes. A pin is one row holding its JSON record (pins.Pin): the key
// columns are what queries select on.
const schema = `
CREATE TABLE IF NOT EXISTS pins_meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pins (
	server TEXT NOT NULL,
	kind   TEXT NOT NULL,
	name   TEXT NOT NULL,
	record TEXT NOT NULL,
	PRIMARY KEY (server, kind, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pins_baselines (
	server TEXT NOT NULL,
	kind   TEXT NOT NULL,
	at_ms  INTEGER NOT NULL,
	PRIMARY KEY (server, kind)
) WITHOUT ROWID;
INSERT INTO pins_meta (key, value) VALUES ('schema_version', '1') ON CONFLICT DO NOTHING;
`

// Backend is a SQLite pins.Backend over a shared handle.
type Backend struct {
	db     *sql.DB
	closed atomic.Bool
}

// New makes a Backend over db (a handle on a Tollgate state file, as
// sqlitestore.OpenDB of the counters opens it: WAL, busy timeout) and
// creates its tables if needed, retrying for up to 30s while other
// processes hold the write lock. Close leaves db to its owner.
func New(ctx context.Context, db *sql.DB) (*Backend, error) {
	if err := sqliteschema.Create(ctx, db, 30*time.Second, "pin tables", migrate); err != nil {
		return nil, err
	}
	return &Backend{db: db}, nil
}

func migrate(ctx context.Context, c *sql.Conn) error {
	if _, err := c.ExecContext(ctx, schema); err != nil {
		return err
	}
	var v string
	if err := c.QueryRowContext(ctx, "SELECT value FROM pins_meta WHERE key = 'schema_version'").Scan(&v); err != nil {
		return err
	}
	if n, err := strconv.Atoi(v); err != nil || n > schemaVersion {
		return fmt.Errorf("pins schema version %q is newer than this tollgate understands (%d)", v, schemaVersion)
	}
	return nil
}

var errClosed = fmt.Errorf("pins sqlitestore: %w: closed", pins.ErrUnavailable)

// tx runs fn in a transaction begun with begin on one connection, and
// commits, or rolls back when fn fails. Backend failures wrap
// pins.ErrUnavailable; fn's own errors come back as they are.
func (b *Backend) tx(ctx context.Context, begin string, fn func(context.Context, *sql.Conn) error) error {
	if b.closed.Load() {
		return errClosed
	}
	c, err := b.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", pins.ErrUnavailable, err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, begin); err != nil {
		return fmt.Errorf("%w: %w", pins.ErrUnavailable, err)
	}
	if err := fn(ctx, c); err != nil {
		c.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		c.ExecContext(context.Background(), "ROLLBACK")
		return fmt.Errorf("%w: %w", pins.ErrUnavailable, err)
	}
	return nil
}

// Update implements pins.Backend.
func (b *Backend) Update(ctx context.Context, server string, fn func(*pins.Snapshot) error) error {
	return b.tx(ctx, "BEGIN IMMEDIATE", func(ctx context.Context, c *sql.Conn) error {
		snap, err := load(ctx, c, server)
		if err != nil {
			return fmt.Errorf("%w: %w", pins.ErrUnavailable, err)
		}
		if err := fn(snap); err != nil {
			return err
		}
		dirty, baselined := snap.Dirty()
		for _, p := range dirty {
			rec, err := json.Marshal(p)
			if err != nil {
				return fmt.Errorf("encode pin %s: %w", p.Key(), err)
			}
			if _, err := c.ExecContext(ctx, `INSERT INTO pins (server, kind, name, record) VALUES (?, ?, ?, ?)
				ON CONFLICT (server, kind, name) DO UPDATE SET record = excluded.record`,
				server, string(p.Kind), p.Name, string(rec)); err != nil {
				return fmt.Errorf("%w: %w", pins.ErrUnavailable, err)
			}
		}
		if baselined {
			for k, at := range snap.Baselined {
				if _, err := c.ExecContext(ctx, `INSERT INTO pins_baselines (server, kind, at_ms) VALUES (?, ?, ?)
					ON CONFLICT (server, kind) DO NOTHING`, server, string(k), at.UnixMilli()); err != nil {
					return fmt.Errorf("%w: %w", pins.ErrUnavailable, err)
				}
			}
		}
		return nil
	})
}

// Load implements pins.Backend.
func (b *Backend) Load(ctx context.Context, server string) (*pins.Snapshot, error) {
	var snap *pins.Snapshot
	err := b.tx(ctx, "BEGIN", func(ctx context.Context, c *sql.Conn) error {
		var err error
		if snap, err = load(ctx, c, server); err != nil {
			return fmt.Errorf("%w: %w", pins.ErrUnavailable, err)
		}
		return nil
	})
	return snap, err
}

func load(ctx context.Context, c *sql.Conn, server string) (*pins.Snapshot, error) {
	snap := pins.NewSnapshot(server)
	rows, err := c.QueryContext(ctx, `SELECT record FROM pins WHERE server = ?`, server)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var rec string
		if err := rows.Scan(&rec); err != nil {
			rows.Close()
			return nil, err
		}
		p := new(pins.Pin)
		if err := json.Unmarshal([]byte(rec), p); err != nil {
			rows.Close()
			return nil, fmt.Errorf("decode a pin of %q: %w", server, err)
		}
		snap.Pins[p.Key()] = p
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = c.QueryContext(ctx, `SELECT kind, at_ms FROM pins_baselines WHERE server = ?`, server)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var at int64
		if err := rows.Scan(&k, &at); err != nil {
			return nil, err
		}
		snap.Baselined[pins.Kind(k)] = time.UnixMilli(at)
	}
	return snap, rows.Err()
}

// Servers implements pins.Backend.
func (b *Backend) Servers(ctx context.Context) ([]string, error) {
	var out []string
	err := b.tx(ctx, "BEGIN", func(ctx context.Context, c *sql.Conn) error {
		rows, err := c.QueryContext(ctx, `SELECT DISTINCT server FROM pins ORDER BY server`)
		if err != nil {
			return fmt.Errorf("%w: %w", pins.ErrUnavailable, err)
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return fmt.Errorf("%w: %w", pins.ErrUnavailable, err)
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	return out, err
}

// Close implements pins.Backend; the handle stays open for its owner.
func (b *Backend) Close() error {
	b.closed.Store(true)
	return nil
}
