package redisstore_test

import (
	"context"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/approval/storetest"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

func TestConformance(t *testing.T) {
	url := mcptest.Redis(t)
	storetest.Run(t, func(t *testing.T) func() approval.Store {
		prefix := "apt" + approval.NewID()[4:12] // a fresh backend is a fresh prefix
		return func() approval.Store {
			s, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}
