package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/calls"
	"github.com/tollgate-mcp/tollgate/internal/calls/callstest"
	callsqlite "github.com/tollgate-mcp/tollgate/internal/calls/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
)

// Each opener gets a handle of its own on the same file, as another
// process would.
func TestConformance(t *testing.T) {
	callstest.Run(t, func(t *testing.T) func() calls.Store {
		path := filepath.Join(t.TempDir(), "state.db")
		return func() calls.Store {
			db, err := sqlitestore.OpenDB(path, sqlitestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			s, err := callsqlite.New(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// TestSwept: expired records are deleted, by any process's write a
// minute after the last sweep; live ones stay.
func TestSwept(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitestore.OpenDB(filepath.Join(t.TempDir(), "state.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := callsqlite.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1_760_000_000_000)
	for i := range 20 {
		if _, err := s.Add(ctx, fmt.Sprint("old", i), nil, time.Second, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "live", nil, time.Hour, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "new", nil, time.Hour, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM calls").Scan(&n); err != nil || n != 2 {
		t.Errorf("%d rows (%v) after the sweep, want the 2 live ones", n, err)
	}
}

// The call table lives beside the counters' in one file without touching
// them; a newer schema of its own is refused.
func TestTableBesideTheCounters(t *testing.T) {
	ctx := context.Background()
	db, err := sqlitestore.OpenDB(filepath.Join(t.TempDir(), "state.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counters, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer counters.Close()
	if _, err := callsqlite.New(ctx, db); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'schema_version'").Scan(&v); err != nil || v != "3" {
		t.Errorf("counters' schema version = %q, %v; want 3", v, err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE calls_meta SET value = '9' WHERE key = 'schema_version'"); err != nil {
		t.Fatal(err)
	}
	if _, err := callsqlite.New(ctx, db); err == nil {
		t.Error("a newer calls schema was accepted")
	}
}
