package state_test

import (
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/state/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
)

// view passes every call on to the store it wraps, as a gateway's view of a
// shared store does.
type view struct{ state.Store }

func (v view) Unwrap() state.Store { return v.Store }

// opaque passes every call on but does not say so.
type opaque struct{ state.Store }

// TestStoreProperties: which stores never wait and whose commits wait on
// nothing, directly and through a view that unwraps; a store that does
// not unwrap keeps neither property.
func TestStoreProperties(t *testing.T) {
	mem := memstore.New()
	defer mem.Close()
	for _, c := range []struct {
		name               string
		s                  state.Store
		nonBlocking, quick bool
	}{
		{"memory", mem, true, true},
		{"view of memory", view{mem}, true, true},
		{"view of a view of memory", view{view{mem}}, true, true},
		{"opaque memory", opaque{mem}, false, false},
		{"SQLite", (*sqlitestore.Store)(nil), false, true},
		{"view of SQLite", view{(*sqlitestore.Store)(nil)}, false, true},
		{"Redis", (*redisstore.Store)(nil), false, true},
	} {
		if got := state.IsNonBlocking(c.s); got != c.nonBlocking {
			t.Errorf("%s: IsNonBlocking %v, want %v", c.name, got, c.nonBlocking)
		}
		if got := state.CommitsQuickly(c.s); got != c.quick {
			t.Errorf("%s: CommitsQuickly %v, want %v", c.name, got, c.quick)
		}
	}
}
