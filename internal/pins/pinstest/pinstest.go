// Package pinstest is the conformance suite every pins.Backend passes,
// through pins.Store: trust on first use, changes and new definitions held
// as pending, approval and rejection with their compare-and-set, pages of
// one list, persistence across reopening, and no lost update under
// concurrent writers.
package pinstest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-mcp/tollgate/internal/pins"
)

// Run runs the suite. fresh is called once per subtest and returns an
// opener: each call opens the same (initially empty) storage again, as
// another process would.
func Run(t *testing.T, fresh func(t *testing.T) func() pins.Backend) {
	ctx := context.Background()
	t0 := time.UnixMilli(1_760_000_000_000).UTC()
	def := func(name, desc string) pins.Def {
		d, _ := pins.Definition(pins.Tool, []byte(fmt.Sprintf(`{"name":%q,"description":%q}`, name, desc)))
		return d
	}
	open := func(t *testing.T) *pins.Store {
		o := fresh(t)
		s := pins.NewStore(o())
		t.Cleanup(func() { s.Close() })
		return s
	}
	statuses := func(ps []pins.Pin) map[string]pins.Status {
		m := map[string]pins.Status{}
		for _, p := range ps {
			m[p.Name] = p.Status()
		}
		return m
	}

	t.Run("trust on first use, then changes and new tools are pending", func(t *testing.T) {
		s := open(t)
		got, err := s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("a", "A"), def("b", "B")}, Complete: true, Now: t0})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]pins.Status{"a": pins.Approved, "b": pins.Approved}, statuses(got)); diff != "" {
			t.Fatalf("first list (-want +got):\n%s", diff)
		}
		if got[0].Approver != "" || got[0].Hash != def("a", "A").Hash || !got[0].ApprovedAt.Equal(t0) {
			t.Errorf("first use pin = %+v", got[0])
		}
		t1 := t0.Add(time.Minute)
		got, err = s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("a", "A"), def("b", "B changed"), def("c", "C")}, Complete: true, Now: t1})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]pins.Status{"a": pins.Approved, "b": pins.Changed, "c": pins.New}, statuses(got)); diff != "" {
			t.Fatalf("second list (-want +got):\n%s", diff)
		}
		b := got[1]
		if b.Hash != def("b", "B").Hash || b.Pending.Hash != def("b", "B changed").Hash || !b.Pending.FirstSeen.Equal(t1) {
			t.Errorf("changed pin = %+v, pending %+v", b, b.Pending)
		}
		if string(b.Pending.Definition) != string(def("b", "B changed").Definition) {
			t.Errorf("pending definition = %s", b.Pending.Definition)
		}
		// Seen again later: FirstSeen stays.
		got, _ = s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("b", "B changed")}, Complete: true, Now: t1.Add(time.Hour)})
		if !got[0].Pending.FirstSeen.Equal(t1) {
			t.Errorf("first seen moved to %v", got[0].Pending.FirstSeen)
		}
		// Another server and another kind are their own first use.
		got, _ = s.Observe(ctx, pins.Observation{Server: "other", Kind: pins.Tool, Defs: []pins.Def{def("c", "C")}, Complete: true, Now: t1})
		if got[0].Status() != pins.Approved {
			t.Errorf("other server: %s", got[0].Status())
		}
		got, _ = s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Prompt, Defs: []pins.Def{def("p", "P")}, Complete: true, Now: t1})
		if got[0].Status() != pins.Approved {
			t.Errorf("first prompt list: %s", got[0].Status())
		}
	})

	t.Run("pages of the first list are all first use", func(t *testing.T) {
		s := open(t)
		s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("a", "A")}, Now: t0})
		got, _ := s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("b", "B")}, Complete: true, Now: t0})
		if got[0].Status() != pins.Approved {
			t.Errorf("second page: %s", got[0].Status())
		}
		got, _ = s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("c", "C")}, Now: t0})
		if got[0].Status() != pins.New {
			t.Errorf("after the last page: %s", got[0].Status())
		}
	})

	t.Run("approve and reject compare the hash", func(t *testing.T) {
		s := open(t)
		s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("a", "A")}, Complete: true, Now: t0})
		if _, err := s.Approve(ctx, "srv", pins.Tool, "a", def("a", "X").Hash, pins.Approval{Approver: "alice", Now: t0}); !errors.Is(err, pins.ErrNotPending) {
			t.Errorf("approve another hash with nothing pending: %v", err)
		}
		// Approving the approved definition again signs it.
		p, err := s.Approve(ctx, "srv", pins.Tool, "a", def("a", "A").Hash, pins.Approval{Approver: "alice", Signature: "s1", Now: t0})
		if err != nil || p.Approver != "alice" || p.Signature != "s1" || p.Status() != pins.Approved {
			t.Errorf("approve again: %+v, %v", p, err)
		}
		if _, err := s.Approve(ctx, "srv", pins.Tool, "zz", "x", pins.Approval{Now: t0}); !errors.Is(err, pins.ErrNotFound) {
			t.Errorf("approve unknown: %v", err)
		}
		s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("a", "A2")}, Complete: true, Now: t0})
		if _, err := s.Approve(ctx, "srv", pins.Tool, "a", def("a", "A3").Hash, pins.Approval{Approver: "alice", Now: t0}); !errors.Is(err, pins.ErrStale) {
			t.Errorf("approve another hash: %v", err)
		}
		if _, err := s.Reject(ctx, "srv", pins.Tool, "a", def("a", "A2").Hash, "bob", t0); err != nil {
			t.Fatal(err)
		}
		p, _ = s.Get(ctx, "srv", pins.Tool, "a")
		if p.Status() != pins.Rejected || p.Pending.RejectedBy != "bob" {
			t.Errorf("after reject: %+v", p)
		}
		t2 := t0.Add(time.Hour)
		p, err = s.Approve(ctx, "srv", pins.Tool, "a", def("a", "A2").Hash, pins.Approval{Approver: "alice", Signature: "sig", Note: "ok", Now: t2})
		if err != nil {
			t.Fatal(err)
		}
		want := pins.Pin{Server: "srv", Kind: pins.Tool, Name: "a", Hash: def("a", "A2").Hash, Definition: def("a", "A2").Definition,
			ApprovedAt: t2, Approver: "alice", Signature: "sig", Note: "ok"}
		got, _ := s.Get(ctx, "srv", pins.Tool, "a")
		for _, q := range []pins.Pin{p, got} {
			if diff := cmp.Diff(want, q, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
				t.Errorf("approved pin (-want +got):\n%s", diff)
			}
		}
	})

	t.Run("back to the approved definition drops the pending change", func(t *testing.T) {
		s := open(t)
		s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("a", "A")}, Complete: true, Now: t0})
		s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("a", "evil")}, Complete: true, Now: t0})
		got, _ := s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("a", "A")}, Complete: true, Now: t0})
		if got[0].Status() != pins.Approved || got[0].Pending != nil {
			t.Errorf("reverted: %+v", got[0])
		}
	})

	t.Run("a name listed twice is held by its other definition", func(t *testing.T) {
		s := open(t)
		s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("a", "A")}, Complete: true, Now: t0})
		got, _ := s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def("a", "A"), def("a", "evil")}, Complete: true, Now: t0})
		for i, p := range got {
			if p.Status() != pins.Changed {
				t.Errorf("entry %d: %s", i, p.Status())
			}
		}
	})

	t.Run("reopened storage keeps everything", func(t *testing.T) {
		o := fresh(t)
		s1 := pins.NewStore(o())
		s1.Observe(ctx, pins.Observation{Server: "srv one", Kind: pins.Tool, Defs: []pins.Def{def("a", "A")}, Complete: true, Now: t0})
		s1.Observe(ctx, pins.Observation{Server: "srv one", Kind: pins.Tool, Defs: []pins.Def{def("a", "A2")}, Complete: true, Now: t0})
		s1.Observe(ctx, pins.Observation{Server: "https://x/mcp?a=b", Kind: pins.Resource, Defs: []pins.Def{def("r", "R")}, Complete: true, Now: t0})
		s1.Close()
		s2 := pins.NewStore(o())
		defer s2.Close()
		all, err := s2.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range all {
			got = append(got, p.Server+"/"+string(p.Kind)+"/"+p.Name+"="+string(p.Status()))
		}
		want := []string{"https://x/mcp?a=b/resource/r=approved", "srv one/tool/a=changed"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("list (-want +got):\n%s", diff)
		}
		// The first record is over for "srv one": a new tool is pending.
		ps, _ := s2.Observe(ctx, pins.Observation{Server: "srv one", Kind: pins.Tool, Defs: []pins.Def{def("b", "B")}, Now: t0})
		if ps[0].Status() != pins.New {
			t.Errorf("after reopening, a new tool is %s", ps[0].Status())
		}
		one, _ := s2.List(ctx, "srv one")
		if len(one) != 2 {
			t.Errorf("list of one server: %d pins", len(one))
		}
	})

	t.Run("concurrent writers lose nothing", func(t *testing.T) {
		o := fresh(t)
		stores := []*pins.Store{pins.NewStore(o()), pins.NewStore(o())}
		defer stores[0].Close()
		defer stores[1].Close()
		stores[0].Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Complete: true, Now: t0})
		const n = 24
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				name := fmt.Sprintf("t%02d", i)
				if _, err := stores[i%2].Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Defs: []pins.Def{def(name, "x")}, Now: t0}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		all, err := stores[0].List(ctx, "srv")
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != n {
			t.Errorf("%d pins after %d concurrent new tools", len(all), n)
		}
		for _, p := range all {
			if p.Status() != pins.New {
				t.Errorf("%s: %s", p.Name, p.Status())
			}
		}
	})

	t.Run("closed", func(t *testing.T) {
		o := fresh(t)
		s := pins.NewStore(o())
		s.Close()
		if _, err := s.Observe(ctx, pins.Observation{Server: "srv", Kind: pins.Tool, Now: t0}); !errors.Is(err, pins.ErrUnavailable) {
			t.Errorf("observe after close: %v", err)
		}
	})
}
