package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/pins"
	"github.com/tollgate-mcp/tollgate/internal/pins/pinstest"
	pinsqlite "github.com/tollgate-mcp/tollgate/internal/pins/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
)

// Each opener gets a handle of its own on the same file, as another
// process would.
func TestConformance(t *testing.T) {
	pinstest.Run(t, func(t *testing.T) func() pins.Backend {
		path := filepath.Join(t.TempDir(), "state.db")
		return func() pins.Backend {
			db, err := sqlitestore.OpenDB(path, sqlitestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			b, err := pinsqlite.New(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	})
}

// The pin tables live beside the counters' and the approvals' in one file
// without touching them: the counters' schema version is theirs.
func TestTablesBesideTheCounters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sqlitestore.OpenDB(path, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	counters, err := sqlitestore.New(ctx, db, sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer counters.Close()
	if _, err := pinsqlite.New(ctx, db); err != nil {
		t.Fatal(err)
	}
	var v string
	if err := db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = 'schema_version'").Scan(&v); err != nil || v != "3" {
		t.Errorf("counters' schema version = %q, %v; want 3", v, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT value FROM pins_meta WHERE key = 'schema_version'").Scan(&v); err != nil || v != "1" {
		t.Errorf("pins schema version = %q, %v; want 1", v, err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE pins_meta SET value = '9' WHERE key = 'schema_version'"); err != nil {
		t.Fatal(err)
	}
	if _, err := pinsqlite.New(ctx, db); err == nil {
		t.Error("a newer pins schema was accepted")
	}
	var _ *sql.DB = db
}
