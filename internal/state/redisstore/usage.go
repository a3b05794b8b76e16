package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
)

// MaxUsage is how many counters Usage lists at most. The agent decides how
// many sessions and identities there are, so how many counters exist is
// not ours to bound; what one listing reads is.
const MaxUsage = 10000

// ErrUsageTruncated is returned, beside the counters listed, when there are
// more than a listing shows.
var ErrUsageTruncated = errors.New("more counters than the listing shows")

const (
	// scanCount is the COUNT hint of each SCAN: about how many keys Redis
	// examines per round trip.
	scanCount = 500
	// usageBatch is how many counters one read script covers: each script
	// holds Redis for its run, so it stays short.
	usageBatch = 100
	// examineFactor bounds the counters read (listed or found empty, such
	// as a sliding set whose events all left) to this many times the cap.
	examineFactor = 4
)

// Usage lists every counter under the Store's prefix with something used in
// its window at now, ordered by key, at most MaxUsage of them (more gives
// them with ErrUsageTruncated). It walks the prefix's keys with SCAN, a page
// at a time, and reads a batch of counters per read-only script (EVAL_RO
// where Redis has it), each counter's set, total and count at one instant.
// It writes nothing, trims nothing and touches no TTL.
func (s *Store) Usage(ctx context.Context, now time.Time) ([]state.CounterUsage, error) {
	return s.usage(ctx, now, MaxUsage)
}

// usageKey is one counter key SCAN found, parsed.
type usageKey struct {
	id     string // counter id (ledger.AppendID)
	keys   [2]string
	kind   string // "s" or "c"
	cutoff int64  // sliding: events at or before it (µs) have left
}

func (s *Store) usage(ctx context.Context, now time.Time, limit int) ([]state.CounterUsage, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	var (
		out     []state.CounterUsage
		seen    = map[string]bool{} // SCAN may return a key twice
		locs    = map[string]*time.Location{}
		batch   []usageKey
		read    int
		cursor  uint64
		more    bool
		pattern = globEscape(s.prefix) + "[zb]:*"
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		us, err := s.readUsage(ctx, batch)
		batch = batch[:0]
		if err != nil {
			return err
		}
		for _, u := range us {
			if len(out) == limit {
				more = true
				break
			}
			out = append(out, u)
		}
		return nil
	}
	for {
		keys, next, err := s.rdb.Scan(ctx, cursor, pattern, scanCount).Result()
		if err != nil {
			return nil, unavailable("usage", err)
		}
		for _, k := range keys {
			if seen[k] {
				continue
			}
			seen[k] = true
			uk, ok := s.parseUsageKey(k, now, locs)
			if !ok {
				continue
			}
			if read == examineFactor*limit {
				more = true
				break
			}
			read++
			batch = append(batch, uk)
			if len(batch) == usageBatch {
				if err := flush(); err != nil {
					return nil, err
				}
				if more {
					break
				}
			}
		}
		if cursor = next; more || cursor == 0 {
			break
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	state.SortUsage(out)
	if more {
		return out, fmt.Errorf("redisstore: usage: %w: the first %d found are listed", ErrUsageTruncated, len(out))
	}
	return out, nil
}

// parseUsageKey reads a counter key: a sliding counter's set, or the total
// of the calendar window current at now. Anything else (another window, a
// key this code did not write) is not a counter to list.
func (s *Store) parseUsageKey(key string, now time.Time, locs map[string]*time.Location) (usageKey, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok || len(rest) < 2 || rest[1] != ':' {
		return usageKey{}, false
	}
	switch rest[0] {
	case 'z':
		id := rest[2:]
		w, cal, _, err := ledger.ParseID(id)
		if err != nil || cal || w < time.Microsecond {
			return usageKey{}, false
		}
		return usageKey{id: id, kind: "s", keys: [2]string{key, s.prefix + "t:" + id},
			cutoff: now.UnixMicro() - w.Microseconds()}, true
	case 'b':
		// The start follows the last '@': the id's free-form parts may hold
		// one, its digits and location name do not.
		at := strings.LastIndexByte(rest, '@')
		if at < 2 {
			return usageKey{}, false
		}
		id := rest[2:at]
		startUs, err := strconv.ParseInt(rest[at+1:], 10, 64)
		if err != nil {
			return usageKey{}, false
		}
		w, cal, name, err := ledger.ParseID(id)
		if err != nil || !cal {
			return usageKey{}, false
		}
		loc, ok := locs[name]
		if !ok {
			if loc, err = time.LoadLocation(name); err != nil {
				loc = nil // remembered: not a location this machine knows
			}
			locs[name] = loc
		}
		if loc == nil {
			return usageKey{}, false
		}
		if start, _ := state.CalendarBounds(now, w, loc); start.UnixMicro() != startUs {
			return usageKey{}, false // a window before (or after) now's
		}
		return usageKey{id: id, kind: "c", keys: [2]string{key, s.countKey(id, startUs)}}, true
	}
	return usageKey{}, false
}

// readUsage reads a batch of counters in one script and keeps those with
// something in their window.
func (s *Store) readUsage(ctx context.Context, batch []usageKey) ([]state.CounterUsage, error) {
	keys := make([]string, 0, 2*len(batch))
	args := make([]any, 0, 2*len(batch))
	for _, b := range batch {
		keys = append(keys, b.keys[0], b.keys[1])
		args = append(args, b.kind, b.cutoff)
	}
	vals, err := usageScript().RunRO(ctx, s.rdb, keys, args...).Slice()
	if err != nil && strings.Contains(err.Error(), "unknown command") {
		// Redis before 7 has no EVAL_RO; the script writes nothing either way.
		vals, err = usageScript().Run(ctx, s.rdb, keys, args...).Slice()
	}
	if err != nil {
		return nil, unavailable("usage", err)
	}
	if len(vals) != 2*len(batch) {
		return nil, unavailable("usage", fmt.Errorf("script returned %d values for %d counters", len(vals), len(batch)))
	}
	var out []state.CounterUsage
	for i, b := range batch {
		units, _ := vals[2*i].(string)
		n, _ := vals[2*i+1].(int64)
		var used decimal.Decimal
		if err := fromUnits(&used, units); err != nil {
			return nil, unavailable("usage", err)
		}
		if n == 0 && used.IsZero() {
			continue
		}
		u, err := ledger.Usage(b.id, used, int(n))
		if err != nil {
			continue
		}
		out = append(out, u)
	}
	return out, nil
}

// globEscape quotes the characters SCAN's MATCH pattern gives a meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// usageScript reads counters without changing them: it only reads, so
// Redis 7 runs it as EVAL_RO, which refuses any write.
//
// KEYS per counter: its sorted set and total (sliding), or its window's
// total and charge count (calendar). ARGV per counter: kind, cutoff (µs,
// sliding). Returns per counter the units used and the charges counted.
var usageScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(luaDecimal + `
local out = {}
for i = 1, #ARGV / 2 do
  local z, t, cutoff = KEYS[2 * i - 1], KEYS[2 * i], ARGV[2 * i]
  local used, n = "0", 0
  if ARGV[2 * i - 1] == "c" then
    used = redis.call("GET", z) or "0"
    n = tonumber(redis.call("GET", t) or "0") or 0
  elseif redis.call("EXISTS", z) == 1 then
    n = redis.call("ZCOUNT", z, "(" .. cutoff, "+inf")
    local total = redis.call("GET", t)
    if not total then
      for _, m in ipairs(redis.call("ZRANGEBYSCORE", z, "(" .. cutoff, "+inf")) do used = add(used, amountOf(m)) end
    else
      used = total
      for _, m in ipairs(redis.call("ZRANGEBYSCORE", z, "-inf", cutoff)) do used = sub(used, amountOf(m)) end
    end
  end
  out[#out + 1] = used
  out[#out + 1] = n
end
return out
`)
})
