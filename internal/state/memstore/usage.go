package memstore

import (
	"context"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
)

// Usage lists every counter with something used in its window at now,
// ordered by key. It changes nothing.
func (s *Store) Usage(ctx context.Context, now time.Time) ([]state.CounterUsage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	var out []state.CounterUsage
	for id, c := range s.counters {
		used, n := c.UsageAt(now.UnixNano())
		if n == 0 && used.IsZero() {
			continue
		}
		u, err := ledger.Usage(id, used, n)
		if err != nil {
			continue // not an id AppendID wrote; nothing to show
		}
		out = append(out, u)
	}
	state.SortUsage(out)
	return out, nil
}
