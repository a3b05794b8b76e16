// Package storetest is the conformance suite every approval.Store passes.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
)

// Backend creates a fresh, empty backend for one test and returns a function
// that opens a handle on it. Handles opened by one Backend call share their
// records (two processes on one file or one Redis prefix); the suite closes
// each handle it opens.
type Backend func(t *testing.T) (open func() approval.Store)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func record(fp string, created time.Time, ttl time.Duration) approval.Record {
	return approval.Record{
		ID: approval.NewID(), Fingerprint: fp, Tool: "pay", Args: `{"amount":60000}`,
		ArgsHash: "sha256:00", Rule: "big payments", Reason: "over 50k", PolicyRev: "rev1",
		Session: "s1", Identity: "agent", CreatedAt: created, ExpiresAt: created.Add(ttl),
	}
}

// Run runs the suite.
func Run(t *testing.T, backend Backend) {
	ctx := context.Background()
	fresh := func(t *testing.T) approval.Store {
		open := backend(t)
		s := open()
		t.Cleanup(func() { s.Close() })
		return s
	}
	begin := func(t *testing.T, s approval.Store, rec approval.Record, now time.Time, dedupe time.Duration) approval.BeginResult {
		t.Helper()
		res, err := s.Begin(ctx, approval.BeginRequest{New: rec, Now: now, Dedupe: dedupe})
		if err != nil {
			t.Fatalf("Begin: %v", err)
		}
		return res
	}
	want := func(t *testing.T, res approval.BeginResult, o approval.Outcome, id string) {
		t.Helper()
		if res.Outcome != o {
			t.Fatalf("Begin outcome = %v, want %v", res.Outcome, o)
		}
		if id != "" && res.Record.ID != id {
			t.Fatalf("Begin record = %s, want %s", res.Record.ID, id)
		}
	}

	t.Run("request approve consume once", func(t *testing.T) {
		s := fresh(t)
		r1 := record("fp1", t0, time.Hour)
		res := begin(t, s, r1, t0, 0)
		want(t, res, approval.Requested, r1.ID)
		got, err := s.Get(ctx, r1.ID, t0)
		if err != nil || got.Status != approval.Pending || got.Tool != "pay" || got.Args != r1.Args || got.Rule != r1.Rule ||
			!got.CreatedAt.Equal(t0) || !got.ExpiresAt.Equal(t0.Add(time.Hour)) || got.Session != "s1" || got.Identity != "agent" {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		d, err := s.Decide(ctx, r1.ID, approval.Decision{Approve: true, Approver: "alice", Note: "ok", Now: t0.Add(time.Minute)})
		if err != nil || d.Status != approval.Approved || d.Approver != "alice" || d.Note != "ok" || !d.DecidedAt.Equal(t0.Add(time.Minute)) {
			t.Fatalf("Decide = %+v, %v", d, err)
		}
		if _, err := s.Decide(ctx, r1.ID, approval.Decision{Approve: false, Approver: "bob", Now: t0.Add(time.Minute)}); !errors.Is(err, approval.ErrNotPending) {
			t.Fatalf("second Decide: %v, want ErrNotPending", err)
		}
		r2 := record("fp1", t0.Add(2*time.Minute), time.Hour)
		res = begin(t, s, r2, t0.Add(2*time.Minute), 0)
		want(t, res, approval.ConsumedNow, r1.ID)
		if res.Record.Status != approval.Consumed || res.Record.Approver != "alice" {
			t.Fatalf("consumed record = %+v", res.Record)
		}
		r3 := record("fp1", t0.Add(3*time.Minute), time.Hour)
		want(t, begin(t, s, r3, t0.Add(3*time.Minute), 0), approval.Requested, r3.ID)
	})

	t.Run("restore", func(t *testing.T) {
		s := fresh(t)
		r1 := record("fp1", t0, time.Hour)
		begin(t, s, r1, t0, 0)
		if _, err := s.Decide(ctx, r1.ID, approval.Decision{Approve: true, Approver: "a", Now: t0}); err != nil {
			t.Fatal(err)
		}
		want(t, begin(t, s, record("fp1", t0, time.Hour), t0, 0), approval.ConsumedNow, r1.ID)
		if err := s.Restore(ctx, r1.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.Restore(ctx, r1.ID); err != nil { // idempotent: already approved
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, r1.ID, t0); got.Status != approval.Approved || !got.ConsumedAt.IsZero() {
			t.Fatalf("after Restore: %+v", got)
		}
		want(t, begin(t, s, record("fp1", t0, time.Hour), t0, 0), approval.ConsumedNow, r1.ID)
	})

	t.Run("deny refuses identical calls until expiry", func(t *testing.T) {
		s := fresh(t)
		r1 := record("fp1", t0, time.Hour)
		begin(t, s, r1, t0, 0)
		if _, err := s.Decide(ctx, r1.ID, approval.Decision{Approve: false, Approver: "bob", Note: "no", Now: t0}); err != nil {
			t.Fatal(err)
		}
		res := begin(t, s, record("fp1", t0, time.Hour), t0.Add(time.Minute), 0)
		want(t, res, approval.Refused, r1.ID)
		if res.Record.Approver != "bob" || res.Record.Note != "no" || res.Record.Status != approval.Denied {
			t.Fatalf("refused record = %+v", res.Record)
		}
		r2 := record("fp1", t0.Add(time.Hour), time.Hour)
		want(t, begin(t, s, r2, t0.Add(time.Hour), 0), approval.Requested, r2.ID)
		if got, _ := s.Get(ctx, r1.ID, t0.Add(2*time.Hour)); got.Status != approval.Denied {
			t.Fatalf("a denied record stays denied: %+v", got)
		}
	})

	t.Run("dedupe", func(t *testing.T) {
		s := fresh(t)
		r1 := record("fp1", t0, time.Hour)
		begin(t, s, r1, t0, time.Minute)
		want(t, begin(t, s, record("fp1", t0.Add(30*time.Second), time.Hour), t0.Add(30*time.Second), time.Minute), approval.Reused, r1.ID)
		r3 := record("fp1", t0.Add(61*time.Second), time.Hour)
		want(t, begin(t, s, r3, t0.Add(61*time.Second), time.Minute), approval.Requested, r3.ID)
		r4 := record("fp1", t0.Add(70*time.Second), time.Hour)
		want(t, begin(t, s, r4, t0.Add(70*time.Second), 0), approval.Requested, r4.ID) // 0: off
		r5 := record("fp2", t0.Add(70*time.Second), time.Hour)
		want(t, begin(t, s, r5, t0.Add(70*time.Second), time.Hour), approval.Requested, r5.ID) // other call
	})

	t.Run("expiry", func(t *testing.T) {
		s := fresh(t)
		r1 := record("fp1", t0, time.Minute)
		r2 := record("fp1", t0.Add(time.Second), time.Minute)
		begin(t, s, r1, t0, 0)
		begin(t, s, r2, t0.Add(time.Second), 0)
		if _, err := s.Decide(ctx, r2.ID, approval.Decision{Approve: true, Approver: "a", Now: t0.Add(2 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, r1.ID, t0.Add(time.Minute)); got.Status != approval.Expired {
			t.Fatalf("Get past expiry: %+v", got)
		}
		if _, err := s.Decide(ctx, r1.ID, approval.Decision{Approve: true, Approver: "a", Now: t0.Add(time.Minute)}); !errors.Is(err, approval.ErrExpired) {
			t.Fatalf("Decide past expiry: %v", err)
		}
		r3 := record("fp1", t0.Add(2*time.Minute), time.Minute)
		res := begin(t, s, r3, t0.Add(2*time.Minute), time.Hour)
		want(t, res, approval.Requested, r3.ID)
		if len(res.Expired) != 1 || res.Expired[0].ID != r2.ID || res.Expired[0].Status != approval.Expired {
			t.Fatalf("Begin reported expired %+v, want the approved %s", res.Expired, r2.ID)
		}
		list, err := s.List(ctx, approval.Filter{Status: approval.Expired, Now: t0.Add(2 * time.Minute)})
		if err != nil || len(list) != 2 {
			t.Fatalf("List expired = %d records, %v", len(list), err)
		}
	})

	t.Run("consume by id", func(t *testing.T) {
		s := fresh(t)
		r1 := record("fp1", t0, time.Hour)
		begin(t, s, r1, t0, 0)
		if _, err := s.Consume(ctx, r1.ID, t0); !errors.Is(err, approval.ErrNotApproved) {
			t.Fatalf("Consume pending: %v", err)
		}
		s.Decide(ctx, r1.ID, approval.Decision{Approve: true, Approver: "a", Now: t0})
		got, err := s.Consume(ctx, r1.ID, t0)
		if err != nil || got.Status != approval.Consumed {
			t.Fatalf("Consume = %+v, %v", got, err)
		}
		if _, err := s.Consume(ctx, r1.ID, t0); !errors.Is(err, approval.ErrNotApproved) {
			t.Fatalf("second Consume: %v", err)
		}
		s.Restore(ctx, r1.ID)
		if _, err := s.Consume(ctx, r1.ID, t0.Add(time.Hour)); !errors.Is(err, approval.ErrExpired) {
			t.Fatalf("Consume past expiry: %v", err)
		}
	})

	t.Run("unknown and forged ids", func(t *testing.T) {
		s := fresh(t)
		r1 := record("fp1", t0, time.Hour)
		begin(t, s, r1, t0, 0)
		for _, id := range []string{approval.NewID(), "apr_x", "", "'; DROP TABLE approvals; --", r1.ID + "a", "apr_*", "*"} {
			if _, err := s.Get(ctx, id, t0); !errors.Is(err, approval.ErrNotFound) {
				t.Errorf("Get(%q): %v", id, err)
			}
			if _, err := s.Decide(ctx, id, approval.Decision{Approve: true, Approver: "x", Now: t0}); !errors.Is(err, approval.ErrNotFound) {
				t.Errorf("Decide(%q): %v", id, err)
			}
			if _, err := s.Consume(ctx, id, t0); !errors.Is(err, approval.ErrNotFound) {
				t.Errorf("Consume(%q): %v", id, err)
			}
			if err := s.Restore(ctx, id); err != nil {
				t.Errorf("Restore(%q): %v", id, err)
			}
		}
		if got, _ := s.Get(ctx, r1.ID, t0); got.Status != approval.Pending {
			t.Fatalf("record changed: %+v", got)
		}
		want(t, begin(t, s, record("fp1", t0, time.Hour), t0, time.Hour), approval.Reused, r1.ID)
	})

	t.Run("list", func(t *testing.T) {
		s := fresh(t)
		var ids []string
		for i := range 5 {
			r := record("fp"+string(rune('a'+i)), t0.Add(time.Duration(i)*time.Second), time.Hour)
			begin(t, s, r, r.CreatedAt, 0)
			ids = append(ids, r.ID)
		}
		s.Decide(ctx, ids[1], approval.Decision{Approve: true, Approver: "a", Now: t0})
		s.Decide(ctx, ids[2], approval.Decision{Approve: false, Approver: "a", Now: t0})
		all, err := s.List(ctx, approval.Filter{Now: t0})
		if err != nil || len(all) != 5 || all[0].ID != ids[4] || all[4].ID != ids[0] {
			t.Fatalf("List all: %d records, %v", len(all), err)
		}
		pend, _ := s.List(ctx, approval.Filter{Status: approval.Pending, Now: t0})
		if len(pend) != 3 || pend[0].ID != ids[4] || pend[1].ID != ids[3] || pend[2].ID != ids[0] {
			t.Fatalf("List pending: %+v", pend)
		}
		two, _ := s.List(ctx, approval.Filter{Limit: 2, Now: t0})
		if len(two) != 2 {
			t.Fatalf("List limit 2: %d", len(two))
		}
	})

	t.Run("verify before consuming", func(t *testing.T) {
		s := fresh(t)
		good := func(r approval.Record) error {
			if r.Signature != "sig:"+r.ID {
				return fmt.Errorf("%w: bad signature %q", approval.ErrUnverified, r.Signature)
			}
			return nil
		}
		r1 := record("fp1", t0, time.Hour)
		r2 := record("fp1", t0.Add(time.Second), time.Hour)
		begin(t, s, r1, t0, 0)
		begin(t, s, r2, t0.Add(time.Second), 0)
		// r1, the older, carries a forged signature; r2 a good one.
		if d, err := s.Decide(ctx, r1.ID, approval.Decision{Approve: true, Approver: "mallory", Signature: "forged", Now: t0}); err != nil || d.Signature != "forged" {
			t.Fatalf("Decide r1 = %+v, %v", d, err)
		}
		if _, err := s.Decide(ctx, r2.ID, approval.Decision{Approve: true, Approver: "alice", Signature: "sig:" + r2.ID, Now: t0}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, r2.ID, t0); got.Signature != "sig:"+r2.ID {
			t.Fatalf("Get after a signed Decide: signature %q", got.Signature)
		}
		r3 := record("fp1", t0.Add(2*time.Second), time.Hour)
		res, err := s.Begin(ctx, approval.BeginRequest{New: r3, Now: t0.Add(2 * time.Second), Verify: good})
		if err != nil {
			t.Fatal(err)
		}
		want(t, res, approval.ConsumedNow, r2.ID)
		if res.Record.Signature != "sig:"+r2.ID {
			t.Fatalf("consumed record lost its signature: %+v", res.Record)
		}
		if len(res.Unverified) != 1 || res.Unverified[0].Record.ID != r1.ID || !errors.Is(res.Unverified[0].Err, approval.ErrUnverified) {
			t.Fatalf("Unverified = %+v, want r1", res.Unverified)
		}
		// The forged approval is neither consumed nor trusted: the next
		// identical call is a new request, and r1 stays as it was.
		r4 := record("fp1", t0.Add(3*time.Second), time.Hour)
		res, err = s.Begin(ctx, approval.BeginRequest{New: r4, Now: t0.Add(3 * time.Second), Verify: good})
		if err != nil {
			t.Fatal(err)
		}
		want(t, res, approval.Requested, r4.ID)
		if len(res.Unverified) != 1 || res.Unverified[0].Record.ID != r1.ID {
			t.Fatalf("Unverified = %+v, want r1 again", res.Unverified)
		}
		if got, _ := s.Get(ctx, r1.ID, t0.Add(3*time.Second)); got.Status != approval.Approved {
			t.Fatalf("the unverified record changed: %+v", got)
		}
		// Restore keeps the signature; the restored approval verifies again.
		if err := s.Restore(ctx, r2.ID); err != nil {
			t.Fatal(err)
		}
		res, err = s.Begin(ctx, approval.BeginRequest{New: record("fp1", t0, time.Hour), Now: t0.Add(4 * time.Second), Verify: good})
		if err != nil {
			t.Fatal(err)
		}
		want(t, res, approval.ConsumedNow, r2.ID)
		// A denial carries no signature, whatever the caller passed.
		r5 := record("fp2", t0, time.Hour)
		begin(t, s, r5, t0, 0)
		if d, err := s.Decide(ctx, r5.ID, approval.Decision{Approve: false, Approver: "bob", Signature: "x", Now: t0}); err != nil || d.Signature != "" {
			t.Fatalf("Decide deny = %+v, %v", d, err)
		}
	})

	for _, verified := range []bool{false, true} {
		name := "racing retries consume once"
		var verify func(approval.Record) error
		if verified {
			name += " verified"
			verify = func(r approval.Record) error {
				if r.Signature != "good" {
					return approval.ErrUnverified
				}
				return nil
			}
		}
		t.Run(name, func(t *testing.T) { raceConsume(t, backend, verify) })
	}

	t.Run("shared between handles", func(t *testing.T) {
		open := backend(t)
		a, b := open(), open()
		t.Cleanup(func() { a.Close(); b.Close() })
		r1 := record("fp1", t0, time.Hour)
		begin(t, a, r1, t0, 0)
		if _, err := b.Decide(ctx, r1.ID, approval.Decision{Approve: true, Approver: "cli", Now: t0}); err != nil {
			t.Fatal(err)
		}
		want(t, begin(t, a, record("fp1", t0, time.Hour), t0, 0), approval.ConsumedNow, r1.ID)
		if err := b.Restore(ctx, r1.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := a.Get(ctx, r1.ID, t0); err != nil || got.Status != approval.Approved {
			t.Fatalf("Get after Restore elsewhere: %+v, %v", got, err)
		}
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

// raceConsume races 16 identical calls, through two handles, for one
// approval: exactly one consumes it.
func raceConsume(t *testing.T, backend Backend, verify func(approval.Record) error) {
	ctx := context.Background()
	open := backend(t)
	a, b := open(), open()
	t.Cleanup(func() { a.Close(); b.Close() })
	r1 := record("fp1", t0, time.Hour)
	if _, err := a.Begin(ctx, approval.BeginRequest{New: r1, Now: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decide(ctx, r1.ID, approval.Decision{Approve: true, Approver: "a", Signature: "good", Now: t0}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	var wg sync.WaitGroup
	outcomes := make(chan approval.Outcome, n)
	for i := range n {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			res, err := s.Begin(ctx, approval.BeginRequest{New: record("fp1", t0, time.Hour), Now: t0.Add(time.Second), Verify: verify})
			if err != nil {
				t.Error(err)
				return
			}
			outcomes <- res.Outcome
		})
	}
	wg.Wait()
	close(outcomes)
	consumed := 0
	for o := range outcomes {
		if o == approval.ConsumedNow {
			consumed++
		}
	}
	if consumed != 1 {
		t.Fatalf("%d of %d racing calls consumed the approval, want 1", consumed, n)
	}
}
