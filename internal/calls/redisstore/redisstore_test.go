package redisstore_test

import (
	"context"
	"crypto/rand"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-mcp/tollgate/internal/calls"
	"github.com/tollgate-mcp/tollgate/internal/calls/callstest"
	"github.com/tollgate-mcp/tollgate/internal/calls/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	stateredis "github.com/tollgate-mcp/tollgate/internal/state/redisstore"
)

func client(t *testing.T, url string) *redis.Client {
	o, err := stateredis.ClientOptions(url, 0)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(o)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Each opener gets a client of its own on the same prefix, as another
// process would; a fresh store is a fresh prefix.
func TestConformance(t *testing.T) {
	url := mcptest.Redis(t)
	callstest.Run(t, func(t *testing.T) func() calls.Store {
		prefix := "ct" + rand.Text()[:8]
		return func() calls.Store {
			s, err := redisstore.New(client(t, url), prefix)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	})
}

// TestKeysExpireInRedis: a record's key is under the prefix's hash tag and
// Redis removes it after its ttl.
func TestKeysExpireInRedis(t *testing.T) {
	ctx := context.Background()
	rdb := client(t, mcptest.Redis(t))
	s, err := redisstore.New(rdb, "px")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "round:ab", []byte("v"), 90*time.Second, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "task:cd", []byte("v"), time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	for key, ttl := range map[string]time.Duration{"{px}:calls:round:ab": 90 * time.Second, "{px}:calls:task:cd": time.Hour} {
		got, err := rdb.PTTL(ctx, key).Result()
		if err != nil || got <= ttl-10*time.Second || got > ttl {
			t.Errorf("PTTL %s = %v, %v; want about %v", key, got, err, ttl)
		}
	}
}

func TestPrefixWithBraces(t *testing.T) {
	if _, err := redisstore.New(nil, "a{b}"); err == nil {
		t.Error("a prefix with braces was accepted")
	}
}
