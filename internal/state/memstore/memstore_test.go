package memstore_test

import (
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) state.Store { return memstore.New() })
}

func BenchmarkReserve(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) state.Store { return memstore.New() })
}
