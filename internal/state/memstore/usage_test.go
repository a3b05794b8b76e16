package memstore_test

import (
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

func TestUsage(t *testing.T) {
	storetest.RunUsage(t, func(t *testing.T) storetest.UsageLister { return memstore.New() })
}
