package ledger

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// ParseKey reads back the key AppendID wrote at the start of id.
func ParseKey(id string) (state.Key, error) {
	var parts [3]string
	rest := id
	for i := range parts {
		n, after, ok := strings.Cut(rest, ":")
		l, err := strconv.Atoi(n)
		if !ok || err != nil || l < 0 || l > len(after) {
			return state.Key{}, fmt.Errorf("counter id %q: bad key", id)
		}
		parts[i], rest = after[:l], after[l:]
	}
	return state.Key{Scope: parts[0], Counter: parts[1], Who: parts[2]}, nil
}

// Usage describes the counter named id (an AppendID) with total used and n
// charges.
func Usage(id string, used decimal.Decimal, n int) (state.CounterUsage, error) {
	key, err := ParseKey(id)
	if err != nil {
		return state.CounterUsage{}, err
	}
	w, cal, loc, err := ParseID(id)
	if err != nil {
		return state.CounterUsage{}, err
	}
	u := state.CounterUsage{Key: key, Window: w, Location: loc, Used: used, Charges: n}
	if cal {
		u.Align = state.Calendar
	}
	return u, nil
}

// UsageAt is TotalAt and the number of live events making it up, without
// changing c.
func (c *Counter) UsageAt(now int64) (decimal.Decimal, int) {
	cutoff := now - c.Window
	if c.Calendar && now >= c.BucketEnd {
		start, _ := state.CalendarBounds(time.Unix(0, now), time.Duration(c.Window), c.Loc)
		cutoff = start.UnixNano() - 1
	} else if c.Calendar {
		cutoff = c.Bucket - 1
	}
	n := 0
	for i := c.head; i < len(c.events); i++ {
		if c.events[i].At > cutoff {
			n++
		}
	}
	return c.TotalAt(now), n
}
