package gate

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/pins"
	pinmem "github.com/tollgate-mcp/tollgate/internal/pins/memstore"
	pinsqlite "github.com/tollgate-mcp/tollgate/internal/pins/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// BenchmarkHoldTools is what pins add to one tools/list of the 323-tool
// FusionAuth list once its pins are recorded (the steady state: nothing
// changed), with the store in memory and in SQLite: the pump's cached read
// of the list and the guard's observation.
func BenchmarkHoldTools(b *testing.B) {
	raw, err := os.ReadFile("../../testdata/fusionauth-tools.json")
	if err != nil {
		b.Fatal(err)
	}
	result := raw
	if _, err := jsonrpc.ArrayMember(raw, "tools", func([]byte) error { return nil }); err != nil {
		b.Fatal(err)
	}
	for _, backend := range []string{"memory", "sqlite"} {
		b.Run(backend, func(b *testing.B) {
			var pb pins.Backend = pinmem.New()
			if backend == "sqlite" {
				db, err := sqlitestore.OpenDB(filepath.Join(b.TempDir(), "state.db"), sqlitestore.Options{})
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				if pb, err = pinsqlite.New(context.Background(), db); err != nil {
					b.Fatal(err)
				}
			}
			p, _ := policy.Load("p.yaml", []byte("version: \"1\"\npins: enforce\n"))
			g := New(p)
			g.Pins = pins.NewGuard("fusionauth", pins.NewStore(pb))
			s := &transport.Session{ID: "s"}
			var cache mcp.ToolListCache
			hold := func() func(string) bool {
				list, err := cache.Read(result)
				if err != nil {
					b.Fatal(err)
				}
				return g.HoldTools(s, result, list)
			}
			if hold() != nil {
				b.Fatal("the first list held tools")
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if hold() != nil {
					b.Fatal("held tools")
				}
			}
		})
	}
}

// BenchmarkFirstToolsList is what pins add to the first tools/list of the
// 323-tool FusionAuth list, recorded in a SQLite file the first list
// creates (the default of tollgate run): every definition read, checked
// for poisoning and written. Its bytes a list are what a proxy's memory
// grows by when such a server starts.
func BenchmarkFirstToolsList(b *testing.B) {
	raw, err := os.ReadFile("../../testdata/fusionauth-tools.json")
	if err != nil {
		b.Fatal(err)
	}
	p, err := policy.Load("p.yaml", []byte("version: \"1\"\npins: record\n"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		db, err := sqlitestore.OpenDB(filepath.Join(b.TempDir(), "state.db"), sqlitestore.Options{})
		if err != nil {
			b.Fatal(err)
		}
		pb, err := pinsqlite.New(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		g := New(p)
		g.Pins = pins.NewGuard("fusionauth", pins.NewStore(pb))
		var cache mcp.ToolListCache
		list, err := cache.Read(raw)
		if err != nil {
			b.Fatal(err)
		}
		if g.HoldTools(&transport.Session{ID: "s"}, raw, list) != nil {
			b.Fatal("the first list held tools")
		}
		if err := g.FlushPins(context.Background()); err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}
