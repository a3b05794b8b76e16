package sqliteschema

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

const table = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY)"

func create(ctx context.Context, c *sql.Conn) error {
	_, err := c.ExecContext(ctx, table)
	return err
}

// Create waits out another connection's write lock, and gives up with the
// error when the lock outlasts its timeout.
func TestCreateRetriesWhileBusy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	holder, db := open(t, path), open(t, path)
	ctx := context.Background()
	c, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	err = Create(ctx, db, 100*time.Millisecond, "test table", create)
	if err == nil || !strings.Contains(err.Error(), "create the test table") {
		t.Fatalf("Create under a lock held past its timeout: %v", err)
	}
	time.AfterFunc(150*time.Millisecond, func() { _, _ = c.ExecContext(ctx, "COMMIT") })
	if err := Create(ctx, db, 10*time.Second, "test table", create); err != nil {
		t.Fatalf("Create after the lock is released: %v", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t (k) VALUES ('x')"); err != nil {
		t.Errorf("the table is not there: %v", err)
	}
}

// A failing migration is rolled back and returned at once, not retried.
func TestCreateRollsBackAFailure(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := context.Background()
	calls := 0
	boom := errors.New("boom")
	err := Create(ctx, db, 10*time.Second, "test table", func(ctx context.Context, c *sql.Conn) error {
		calls++
		if err := create(ctx, c); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Fatalf("Create: %v after %d calls, want boom after one", err, calls)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t (k) VALUES ('x')"); err == nil {
		t.Error("the failed migration's table was kept")
	}
}
