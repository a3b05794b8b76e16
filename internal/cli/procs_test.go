package cli

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
)

// TestJudgedWithoutWaiting: a second processor for quiet sessions only
// where no gate waits on a store (none, or the memory store); a SQLite
// store on any gate keeps one processor, which serves it faster.
func TestJudgedWithoutWaiting(t *testing.T) {
	pol, err := policy.Load("p.yaml", []byte("version: \"1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	none := gate.New(pol)
	mem := gate.New(pol)
	mem.Store = memstore.New()
	sq := gate.New(pol)
	st, err := sqlitestore.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sq.Store = st
	for _, tc := range []struct {
		name  string
		gates []*gate.Gate
		want  bool
	}{
		{"no store", []*gate.Gate{none}, true},
		{"memory store", []*gate.Gate{mem}, true},
		{"SQLite store", []*gate.Gate{sq}, false},
		{"a gateway with one SQLite server", []*gate.Gate{none, mem, sq}, false},
	} {
		if got := judgedWithoutWaiting(tc.gates); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
