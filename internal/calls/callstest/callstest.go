// Package callstest is the conformance suite every calls.Store passes:
// values round-trip, Add stores only over no live record, Put replaces,
// Take hands a record to exactly one taker, expiry by the callers' clock,
// records seen through another handle (another process), and use after
// Close.
package callstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/calls"
)

// Run runs the suite. fresh is called once per subtest and returns an
// opener: each call opens the same (initially empty) storage again, as
// another process would. The suite closes what it opens.
func Run(t *testing.T, fresh func(t *testing.T) func() calls.Store) {
	ctx := context.Background()
	t0 := time.UnixMilli(1_760_000_000_000).UTC()
	open := func(t *testing.T, o func() calls.Store) calls.Store {
		s := o()
		t.Cleanup(func() { s.Close() })
		return s
	}
	get := func(t *testing.T, s calls.Store, key string, now time.Time) ([]byte, bool) {
		t.Helper()
		v, ok, err := s.Get(ctx, key, now)
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		return v, ok
	}
	add := func(t *testing.T, s calls.Store, key, val string, ttl time.Duration, now time.Time) bool {
		t.Helper()
		ok, err := s.Add(ctx, key, []byte(val), ttl, now)
		if err != nil {
			t.Fatalf("Add(%q): %v", key, err)
		}
		return ok
	}

	t.Run("values round-trip, keys are exact", func(t *testing.T) {
		s := open(t, fresh(t))
		vals := map[string][]byte{
			"round:0123":                           []byte("v"),
			"round:01234":                          {0, 1, 0xff, ':', '\n'},
			"task:a b{c}:ü":                        []byte(`{"s":"stateless:alice"}`),
			"empty":                                {},
			"3:srv:task:x":                         []byte("scoped"),
			string(bytes.Repeat([]byte("k"), 600)): []byte("long key"),
		}
		for k, v := range vals {
			if ok, err := s.Add(ctx, k, v, time.Minute, t0); err != nil || !ok {
				t.Fatalf("Add(%.20q) = %v, %v", k, ok, err)
			}
		}
		for k, v := range vals {
			got, ok := get(t, s, k, t0)
			if !ok || !bytes.Equal(got, v) {
				t.Errorf("Get(%.20q) = %q, %v; want %q", k, got, ok, v)
			}
		}
		for _, k := range []string{"round:012", "ROUND:0123", "task:a b{c}:u", "", "3:srv:task:"} {
			if v, ok := get(t, s, k, t0); ok {
				t.Errorf("Get(%q) = %q of a key never added", k, v)
			}
		}
		// The value returned is the caller's.
		v, _ := get(t, s, "round:0123", t0)
		v[0] = 'X'
		if v, _ := get(t, s, "round:0123", t0); string(v) != "v" {
			t.Errorf("a returned value aliases the store's: %q", v)
		}
	})

	t.Run("Add keeps the first live record", func(t *testing.T) {
		s := open(t, fresh(t))
		if !add(t, s, "k", "first", time.Minute, t0) {
			t.Fatal("the first Add did not store")
		}
		if add(t, s, "k", "second", time.Hour, t0.Add(59*time.Second)) {
			t.Error("Add over a live record stored")
		}
		if v, ok := get(t, s, "k", t0.Add(59*time.Second)); !ok || string(v) != "first" {
			t.Errorf("Get = %q, %v; want the first", v, ok)
		}
		// Its expiry is the first's: gone at t0+1m (expiry is not after now).
		if _, ok := get(t, s, "k", t0.Add(time.Minute)); ok {
			t.Error("the record outlived the first Add's ttl")
		}
		if !add(t, s, "k", "third", time.Minute, t0.Add(time.Minute)) {
			t.Error("Add over an expired record did not store")
		}
		if v, ok := get(t, s, "k", t0.Add(time.Minute+time.Second)); !ok || string(v) != "third" {
			t.Errorf("Get = %q, %v; want the third", v, ok)
		}
	})

	t.Run("Put replaces", func(t *testing.T) {
		s := open(t, fresh(t))
		add(t, s, "k", "first", time.Minute, t0)
		if err := s.Put(ctx, "k", []byte("second"), time.Hour, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if v, ok := get(t, s, "k", t0.Add(30*time.Minute)); !ok || string(v) != "second" {
			t.Errorf("Get = %q, %v; want the second, live for its own ttl", v, ok)
		}
		if _, ok := get(t, s, "k", t0.Add(time.Hour+time.Second)); ok {
			t.Error("the record outlived Put's ttl")
		}
		if err := s.Put(ctx, "new", nil, time.Minute, t0); err != nil {
			t.Fatal(err)
		}
		if v, ok := get(t, s, "new", t0); !ok || len(v) != 0 {
			t.Errorf("Get of an empty Put = %q, %v", v, ok)
		}
	})

	t.Run("Take once", func(t *testing.T) {
		s := open(t, fresh(t))
		add(t, s, "k", "v", time.Minute, t0)
		v, ok, err := s.Take(ctx, "k", t0)
		if err != nil || !ok || string(v) != "v" {
			t.Fatalf("Take = %q, %v, %v", v, ok, err)
		}
		if v, ok, err := s.Take(ctx, "k", t0); err != nil || ok {
			t.Errorf("second Take = %q, %v, %v", v, ok, err)
		}
		if _, ok := get(t, s, "k", t0); ok {
			t.Error("Get found a taken record")
		}
		if !add(t, s, "k", "again", time.Minute, t0) {
			t.Error("Add after Take did not store")
		}
		if v, ok, err := s.Take(ctx, "never", t0); err != nil || ok {
			t.Errorf("Take of a key never added = %q, %v, %v", v, ok, err)
		}
	})

	t.Run("expiry is by the callers' clock, to the millisecond", func(t *testing.T) {
		s := open(t, fresh(t))
		add(t, s, "k", "v", 1500*time.Microsecond, t0) // rounded up to 2ms
		if _, ok := get(t, s, "k", t0.Add(time.Millisecond)); !ok {
			t.Error("gone before its ttl")
		}
		if _, ok := get(t, s, "k", t0.Add(2*time.Millisecond)); ok {
			t.Error("Get found a record at its expiry")
		}
		if _, ok, err := s.Take(ctx, "k", t0.Add(2*time.Millisecond)); err != nil || ok {
			t.Errorf("Take of an expired record = %v, %v", ok, err)
		}
		// Expired, then taken: it is gone for an earlier clock too.
		if _, ok := get(t, s, "k", t0); ok {
			t.Error("Take left an expired record")
		}
		for _, ttl := range []time.Duration{0, -time.Second} {
			if _, err := s.Add(ctx, "k", nil, ttl, t0); !errors.Is(err, calls.ErrTTL) {
				t.Errorf("Add with ttl %v: %v, want ErrTTL", ttl, err)
			}
			if err := s.Put(ctx, "k", nil, ttl, t0); !errors.Is(err, calls.ErrTTL) {
				t.Errorf("Put with ttl %v: %v, want ErrTTL", ttl, err)
			}
		}
	})

	t.Run("another handle sees the records", func(t *testing.T) {
		o := fresh(t)
		a, b := open(t, o), open(t, o)
		add(t, a, "k", "from a", time.Minute, t0)
		if v, ok := get(t, b, "k", t0); !ok || string(v) != "from a" {
			t.Fatalf("b: Get = %q, %v", v, ok)
		}
		if add(t, b, "k", "from b", time.Minute, t0) {
			t.Error("b: Add over a's live record stored")
		}
		if _, ok, _ := b.Take(ctx, "k", t0); !ok {
			t.Error("b: Take found nothing")
		}
		if _, ok, _ := a.Take(ctx, "k", t0); ok {
			t.Error("a: Take found what b took")
		}
		// Closing one handle leaves the other working.
		a.Close()
		if err := a.Put(ctx, "k", nil, time.Minute, t0); !errors.Is(err, calls.ErrUnavailable) {
			t.Errorf("Put after Close: %v, want ErrUnavailable", err)
		}
		if _, _, err := a.Get(ctx, "k", t0); !errors.Is(err, calls.ErrUnavailable) {
			t.Errorf("Get after Close: %v, want ErrUnavailable", err)
		}
		if _, _, err := a.Take(ctx, "k", t0); !errors.Is(err, calls.ErrUnavailable) {
			t.Errorf("Take after Close: %v, want ErrUnavailable", err)
		}
		if _, err := a.Add(ctx, "k", nil, time.Minute, t0); !errors.Is(err, calls.ErrUnavailable) {
			t.Errorf("Add after Close: %v, want ErrUnavailable", err)
		}
		if err := a.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if !add(t, b, "k", "b still works", time.Minute, t0) {
			t.Error("b: Add after a closed did not store")
		}
	})

	t.Run("one of concurrent takers and adders wins", func(t *testing.T) {
		const handles, each, rounds = 4, 4, 8
		o := fresh(t)
		hs := make([]calls.Store, handles)
		for i := range hs {
			hs[i] = open(t, o)
		}
		for r := range rounds {
			key := fmt.Sprintf("race-%d", r)
			now := t0.Add(time.Duration(r) * time.Second)
			var mu sync.Mutex
			var added, took []string
			var errs []error
			var wg sync.WaitGroup
			for i := range handles * each {
				s, who := hs[i%handles], fmt.Sprint(i)
				wg.Go(func() {
					ok, err := s.Add(ctx, key, []byte(who), time.Minute, now)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
					} else if ok {
						added = append(added, who)
					}
				})
			}
			wg.Wait()
			if len(errs) > 0 || len(added) != 1 {
				t.Fatalf("round %d: %d of %d concurrent Adds stored (%v), errors %v; want exactly one", r, len(added), handles*each, added, errs)
			}
			for i := range handles * each {
				s := hs[i%handles]
				wg.Go(func() {
					v, ok, err := s.Take(ctx, key, now)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
					} else if ok {
						took = append(took, string(v))
					}
				})
			}
			wg.Wait()
			if len(errs) > 0 || len(took) != 1 || took[0] != added[0] {
				t.Fatalf("round %d: concurrent Takes got %v, errors %v; want exactly [%s]", r, took, errs, added[0])
			}
		}
	})
}
