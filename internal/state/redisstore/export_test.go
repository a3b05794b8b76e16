package redisstore

import (
	"context"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
)

// ToUnits exposes toUnits to the tests.
var ToUnits = toUnits

// FromUnits exposes fromUnits to the tests.
var FromUnits = fromUnits

// UsageUpTo is Usage listing at most limit counters.
func UsageUpTo(s *Store, ctx context.Context, now time.Time, limit int) ([]state.CounterUsage, error) {
	return s.usage(ctx, now, limit)
}

// LuaDecimal is the decimal arithmetic every script starts with.
const LuaDecimal = luaDecimal
