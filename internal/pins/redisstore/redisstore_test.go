package redisstore_test

import (
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/pins"
	"github.com/tollgate-mcp/tollgate/internal/pins/pinstest"
	"github.com/tollgate-mcp/tollgate/internal/pins/redisstore"
	stateredis "github.com/tollgate-mcp/tollgate/internal/state/redisstore"
)

// Each opener gets a client of its own on the same prefix, as another
// process would; a fresh backend is a fresh prefix.
func TestConformance(t *testing.T) {
	url := mcptest.Redis(t)
	pinstest.Run(t, func(t *testing.T) func() pins.Backend {
		prefix := fmt.Sprintf("pt%x", rand.Text()[:8])
		return func() pins.Backend {
			o, err := stateredis.ClientOptions(url, 0)
			if err != nil {
				t.Fatal(err)
			}
			rdb := redis.NewClient(o)
			t.Cleanup(func() { rdb.Close() })
			b, err := redisstore.New(rdb, prefix)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	})
}

func TestPrefixWithBraces(t *testing.T) {
	if _, err := redisstore.New(nil, "a{b}"); err == nil {
		t.Error("a prefix with braces was accepted")
	}
}
