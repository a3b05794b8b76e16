package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// usageStore reads usage through a second handle on the file, as the
// console does while proxies write it.
type usageStore struct {
	*sqlitestore.Store
	db *sql.DB
}

func (u usageStore) Usage(ctx context.Context, now time.Time) ([]state.CounterUsage, error) {
	return sqlitestore.ReadUsage(ctx, u.db, now)
}

func TestUsage(t *testing.T) {
	storetest.RunUsage(t, func(t *testing.T) storetest.UsageLister {
		path := filepath.Join(t.TempDir(), "state.db")
		s := open(t, path)
		db, err := sqlitestore.OpenDB(path, sqlitestore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return usageStore{s, db}
	})
}
