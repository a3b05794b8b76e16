package sqlitestore_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/approval/storetest"
	"github.com/tollgate-mcp/tollgate/internal/state"
	counters "github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() approval.Store {
		path := filepath.Join(t.TempDir(), "state.db")
		return func() approval.Store {
			s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// TestBesideCounters opens the approvals and the counters on one file, in
// both orders, and uses both.
func TestBesideCounters(t *testing.T) {
	ctx := context.Background()
	for _, approvalsFirst := range []bool{true, false} {
		path := filepath.Join(t.TempDir(), "state.db")
		var a *sqlitestore.Store
		var err error
		if approvalsFirst {
			if a, err = sqlitestore.Open(ctx, path, sqlitestore.Options{}); err != nil {
				t.Fatal(err)
			}
		}
		c, err := counters.Open(ctx, path, counters.Options{})
		if err != nil {
			t.Fatalf("counters after approvals: %v", err)
		}
		if !approvalsFirst {
			if a, err = sqlitestore.Open(ctx, path, sqlitestore.Options{}); err != nil {
				t.Fatalf("approvals after counters: %v", err)
			}
		}
		now := time.Now()
		var ch state.Charge
		ch.Key = state.Key{Scope: "t", Counter: "c", Who: "global"}
		ch.Window = time.Minute
		ch.Amount.SetInt64(1)
		ch.Limit.SetInt64(5)
		if res, err := c.Reserve(ctx, now, []state.Charge{ch}); err != nil || !res.Admitted {
			t.Fatalf("Reserve: %+v %v", res, err)
		}
		rec := approval.Record{ID: approval.NewID(), Fingerprint: "f", Tool: "t", Args: "{}", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if res, err := a.Begin(ctx, approval.BeginRequest{New: rec, Now: now}); err != nil || res.Outcome != approval.Requested {
			t.Fatalf("Begin: %+v %v", res, err)
		}
		a.Close()
		c.Close()
	}
}
