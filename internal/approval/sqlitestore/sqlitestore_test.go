package sqlitestore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/approval/storetest"
	"github.com/tollgate-mcp/tollgate/internal/decimal"
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
		ch.Amount = decimal.NewFromInt64(1)
		ch.Limit = decimal.NewFromInt64(5)
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

// schemaV1 is the approvals layout of schema version 1, before signatures.
const schemaV1 = `
CREATE TABLE approvals_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE approvals (
	id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, status TEXT NOT NULL, tool TEXT NOT NULL,
	args TEXT NOT NULL, args_hash TEXT NOT NULL, rule TEXT NOT NULL, reason TEXT NOT NULL,
	policy_rev TEXT NOT NULL, session TEXT NOT NULL, identity TEXT NOT NULL, created_ms INTEGER NOT NULL,
	expires_ms INTEGER NOT NULL, decided_ms INTEGER NOT NULL, approver TEXT NOT NULL, note TEXT NOT NULL,
	consumed_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX approvals_fp ON approvals (fingerprint);
CREATE INDEX approvals_created ON approvals (created_ms);
CREATE INDEX approvals_expires ON approvals (expires_ms);
INSERT INTO approvals_meta (key, value) VALUES ('schema_version', '1');
`

// TestMigratesVersion1 opens a state.db written by a tollgate of schema
// version 1: its records stay readable, an approval given before the
// upgrade (unsigned) is not trusted, and new approvals keep their signature.
func TestMigratesVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(schemaV1); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	old := approval.NewID()
	if _, err := db.Exec(`INSERT INTO approvals VALUES (?, 'fp', 'approved', 'pay', '{}', 'sha256:00', 'r', 'why', 'rev', 's', '', ?, ?, ?, 'bob', '', 0)`,
		old, now.UnixMilli(), now.Add(time.Hour).UnixMilli(), now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatalf("open a version 1 file: %v", err)
	}
	defer s.Close()
	got, err := s.Get(ctx, old, now)
	if err != nil || got.Status != approval.Approved || got.Approver != "bob" || got.Signature != "" {
		t.Fatalf("old record after migration: %+v, %v", got, err)
	}
	verify := func(r approval.Record) error {
		if r.Signature == "" {
			return approval.ErrUnverified
		}
		return nil
	}
	fresh := approval.Record{ID: approval.NewID(), Fingerprint: "fp", Tool: "pay", Args: "{}", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	res, err := s.Begin(ctx, approval.BeginRequest{New: fresh, Now: now, Verify: verify})
	if err != nil || res.Outcome != approval.Requested || len(res.Unverified) != 1 || res.Unverified[0].Record.ID != old {
		t.Fatalf("Begin beside an unsigned pre-upgrade approval: %+v, %v", res, err)
	}
	if _, err := s.Decide(ctx, fresh.ID, approval.Decision{Approve: true, Approver: "alice", Signature: "ed25519:x", Now: now}); err != nil {
		t.Fatal(err)
	}
	res, err = s.Begin(ctx, approval.BeginRequest{New: fresh, Now: now, Verify: verify})
	if err != nil || res.Outcome != approval.ConsumedNow || res.Record.ID != fresh.ID || res.Record.Signature != "ed25519:x" {
		t.Fatalf("Begin with a signed approval: %+v, %v", res, err)
	}
	s.Close()

	// Reopening (now version 2) changes nothing; the version is recorded.
	s2, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v string
	if err := db.QueryRow(`SELECT value FROM approvals_meta WHERE key = 'schema_version'`).Scan(&v); err != nil || v != "2" {
		t.Fatalf("schema_version = %q, %v; want 2", v, err)
	}
}
