package calls_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/calls"
	"github.com/tollgate-mcp/tollgate/internal/calls/callstest"
	"github.com/tollgate-mcp/tollgate/internal/calls/memstore"
)

// A scope over a shared store is a store of its own.
func TestScopedConformance(t *testing.T) {
	callstest.Run(t, func(t *testing.T) func() calls.Store {
		shared := memstore.New(0)
		return func() calls.Store { return &scopedHandle{Scoped: calls.Scoped{Store: shared.Handle(), Scope: "srv"}} }
	})
}

// scopedHandle closes its handle: Scoped itself leaves the shared store
// open, which the suite checks against a handle's Close.
type scopedHandle struct{ calls.Scoped }

func (s *scopedHandle) Close() error { return s.Store.Close() }

// TestScopesApart: no scope reads another's records, whatever the names,
// nor does the unscoped store read a scope's; Close leaves the store open.
func TestScopesApart(t *testing.T) {
	ctx := context.Background()
	t0 := time.UnixMilli(1_760_000_000_000)
	shared := memstore.New(0)
	stores := map[string]calls.Store{
		"unscoped": shared,
		"a":        &calls.Scoped{Store: shared, Scope: "a"},
		"a:b":      &calls.Scoped{Store: shared, Scope: "a:b"},
		"a:b:":     &calls.Scoped{Store: shared, Scope: "a:b:"},
		"":         &calls.Scoped{Store: shared, Scope: ""},
	}
	// Keys chosen so that plain "scope:key" joins would collide.
	keys := map[string]string{"unscoped": "a:b:c", "a": "b:c", "a:b": "c", "a:b:": ":c", "": "a:b:c"}
	for name, s := range stores {
		if ok, err := s.Add(ctx, keys[name], []byte(name), time.Minute, t0); err != nil || !ok {
			t.Fatalf("%q: Add = %v, %v", name, ok, err)
		}
	}
	for name, s := range stores {
		if v, ok, err := s.Get(ctx, keys[name], t0); err != nil || !ok || string(v) != name {
			t.Errorf("%q: Get = %q, %v, %v; want its own record", name, v, ok, err)
		}
	}
	if err := stores["a"].Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := shared.Get(ctx, "a:b:c", t0); err != nil || !ok {
		t.Errorf("closing a scope closed the shared store: %v, %v", ok, err)
	}
}

func TestMillis(t *testing.T) {
	for ttl, want := range map[time.Duration]int64{time.Nanosecond: 1, time.Millisecond: 1, 1001 * time.Microsecond: 2, time.Minute: 60000} {
		if got, err := calls.Millis(ttl); err != nil || got != want {
			t.Errorf("Millis(%v) = %d, %v; want %d", ttl, got, err, want)
		}
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if _, err := calls.Millis(ttl); !errors.Is(err, calls.ErrTTL) {
			t.Errorf("Millis(%v) = %v, want ErrTTL", ttl, err)
		}
	}
}
