package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/calls"
	"github.com/tollgate-mcp/tollgate/internal/calls/callstest"
	"github.com/tollgate-mcp/tollgate/internal/calls/memstore"
)

// Reopening memory is a new handle on the same memory.
func TestConformance(t *testing.T) {
	callstest.Run(t, func(t *testing.T) func() calls.Store {
		return memstore.New(0).Handle
	})
}

// TestBounded: expired records go once a minute of writes has passed, and
// live ones past the bound.
func TestBounded(t *testing.T) {
	ctx := context.Background()
	t0 := time.UnixMilli(1_760_000_000_000)
	s := memstore.New(100)
	for i := range 50 {
		if _, err := s.Add(ctx, fmt.Sprint("old", i), nil, time.Second, t0); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := s.Add(ctx, "new", nil, time.Hour, t0.Add(2*time.Minute)); !ok || s.Len() != 1 {
		t.Fatalf("after a minute: %d records, want the new one only", s.Len())
	}
	for i := range 500 {
		s.Put(ctx, fmt.Sprint("live", i), nil, time.Hour, t0.Add(2*time.Minute))
	}
	if s.Len() > 100 {
		t.Errorf("%d records, past the bound of 100", s.Len())
	}
}
