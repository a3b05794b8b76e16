package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-mcp/tollgate/internal/bench/load"
)

// redisRTT is the p50 of a round trip to the Redis server that a call on
// the Redis store cannot do without: one EVAL of a script that does
// nothing, on one connection, one at a time. Added to the bare relay's
// figure it is the floor of the Redis rows.
func redisRTT(ctx context.Context, url string, n int) (time.Duration, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return 0, fmt.Errorf("redis round trip: %w", err)
	}
	opt.PoolSize = 1
	c := redis.NewClient(opt)
	defer c.Close()
	var h load.Histogram
	for i := range n + n/10 {
		t0 := time.Now()
		if err := c.Eval(ctx, "return 1", nil).Err(); err != nil {
			return 0, fmt.Errorf("redis round trip: %w", err)
		}
		if i >= n/10 { // the first tenth warms up
			h.Record(time.Since(t0))
		}
	}
	return h.Quantile(0.5), nil
}
