// Package sqliteschema creates a store's tables in Tollgate's SQLite state
// file, which several stores (counters, approvals, pins, call records) and
// several processes share: each store's schema is applied in a write
// transaction of its own, retried while another connection holds the
// file's write lock.
package sqliteschema

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsBusy reports whether err is SQLite's BUSY or LOCKED: another
// connection holds the lock the statement needed.
func IsBusy(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code() & 0xff
		return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
	}
	return false
}

// Create runs migrate inside BEGIN IMMEDIATE on one connection of db and
// commits (or rolls back when migrate fails). While the write lock is
// busy it tries again, after 1 ms doubling to 100 ms with jitter, until
// timeout has passed or ctx ends. migrate must be idempotent: any number
// of processes run it. what names the tables in the error ("pin tables").
func Create(ctx context.Context, db *sql.DB, timeout time.Duration, what string, migrate func(context.Context, *sql.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		err := once(ctx, db, migrate)
		if err == nil {
			return nil
		}
		if !IsBusy(err) || ctx.Err() != nil {
			return fmt.Errorf("create the %s: %w", what, err)
		}
		var r [1]byte
		_, _ = rand.Read(r[:])
		t := time.NewTimer(delay + time.Duration(r[0])*delay/256)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
	}
}

func once(ctx context.Context, db *sql.DB, migrate func(context.Context, *sql.Conn) error) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	if err := migrate(ctx, c); err != nil {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	if _, err := c.ExecContext(ctx, "COMMIT"); err != nil {
		_, _ = c.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	return nil
}
