package memstore_test

import (
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/memstore"
	"github.com/tollgate-mcp/tollgate/internal/approval/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) func() approval.Store {
		s := memstore.New()
		return func() approval.Store { return s }
	})
}
