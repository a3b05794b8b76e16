package memstore_test

import (
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/pins"
	"github.com/tollgate-mcp/tollgate/internal/pins/memstore"
	"github.com/tollgate-mcp/tollgate/internal/pins/pinstest"
)

// Reopening memory is a new handle on the same memory.
func TestConformance(t *testing.T) {
	pinstest.Run(t, func(t *testing.T) func() pins.Backend {
		b := memstore.New()
		return b.Handle
	})
}
