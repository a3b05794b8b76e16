// Package redisstore is the fleet state.Store: counters in Redis, shared by
// every Tollgate process pointed at the same server and key prefix.
//
// Each Reserve is one Lua script that expires old events, checks every charge
// and records them all, or none, atomically. Sliding windows are sorted sets
// of events scored by time (microsecond resolution) beside a running exact
// total; calendar windows are one total per window. Every key carries a TTL
// slightly longer than its window, so idle counters disappear by themselves.
//
// Keys are "{<prefix>}:<kind>:<counter id>". The prefix is the Redis Cluster
// hash tag: all of one prefix's keys live in one slot, so a script may touch
// any mix of a call's counters (global, per session, per identity) — the
// trade-off is that one prefix's whole load lands on one cluster node.
// Deployments that need to spread load use several prefixes (for example one
// per tenant); counters under different prefixes are independent.
//
// Amounts are exact decimals with at most 18 digits after the point.
package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/redis/go-redis/v9"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
)

var _ state.Store = (*Store)(nil)

// scale is the number of decimal places amounts are kept to.
const scale = 18

// grace is added to every TTL, so that a caller whose clock lags a little
// still finds the keys.
const grace = time.Minute

// DefaultPrefix is the key prefix (and hash tag) when Options.Prefix is empty.
const DefaultPrefix = "tollgate"

// Options tunes a Store; the zero value is ready to use.
type Options struct {
	// Prefix namespaces every key and is its Cluster hash tag. It must not
	// contain '{' or '}'.
	Prefix string
	// Timeout bounds each round trip (dial, read, write, waiting for a pooled
	// connection) unless the URL sets its own; default 2s. A Redis that does
	// not answer in time makes the call fail with ErrUnavailable.
	Timeout time.Duration
}

// Store is a Redis-backed state.Store. All methods are safe for concurrent
// use. Commit deletes the reservation record, which makes it final for every
// process; Refund works from any process sharing the prefix. Both are
// idempotent.
type Store struct {
	rdb      *redis.Client
	prefix   string // "{prefix}:"
	instance string
	seq      atomic.Uint64
	closed   atomic.Bool
}

// Open connects to the Redis at url (redis://[user:pass@]host:port/db or
// rediss:// for TLS; go-redis query options such as dial_timeout apply) and
// checks that it answers.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q must not contain braces", opts.Prefix)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	q := url[strings.IndexByte(url+"?", '?'):]
	if !strings.Contains(q, "dial_timeout") {
		o.DialTimeout = opts.Timeout
	}
	if !strings.Contains(q, "read_timeout") {
		o.ReadTimeout = opts.Timeout
	}
	if !strings.Contains(q, "write_timeout") {
		o.WriteTimeout = opts.Timeout
	}
	if !strings.Contains(q, "pool_timeout") {
		o.PoolTimeout = opts.Timeout
	}
	// A script whose reply was lost may have run: never replay it, or a call
	// would be charged twice.
	o.MaxRetries = -1
	o.ContextTimeoutEnabled = true
	var id [6]byte
	rand.Read(id[:])
	s := &Store{rdb: redis.NewClient(o), prefix: "{" + opts.Prefix + "}:", instance: hex.EncodeToString(id[:])}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.rdb.Close()
		return nil, unavailable("open "+o.Addr, err)
	}
	return s, nil
}

func unavailable(op string, err error) error {
	return fmt.Errorf("redisstore: %s: %w: %w", op, state.ErrUnavailable, err)
}

var errClosed = fmt.Errorf("redisstore: closed: %w", state.ErrUnavailable)

func (s *Store) keys(ch *state.Charge, now time.Time, buf []byte) (primary, total string, end time.Time) {
	id := ledger.AppendID(buf, ch)
	if ch.Align == state.Calendar {
		start, end := state.CalendarBounds(now, ch.Window, ch.Location)
		k := s.prefix + "b:" + string(id) + "@" + strconv.FormatInt(start.UnixMicro(), 10)
		return k, k, end
	}
	return s.prefix + "z:" + string(id), s.prefix + "t:" + string(id), time.Time{}
}

// Reserve implements state.Store.
func (s *Store) Reserve(ctx context.Context, now time.Time, charges []state.Charge) (state.Result, error) {
	if err := state.Validate(charges); err != nil {
		return state.Result{}, fmt.Errorf("redisstore: reserve: %w", err)
	}
	if s.closed.Load() {
		return state.Result{}, errClosed
	}
	if len(charges) == 0 {
		return state.Result{Admitted: true, Totals: []apd.Decimal{}}, nil
	}
	res := s.instance + "-" + strconv.FormatUint(s.seq.Add(1), 36)
	nowUs := now.UnixMicro()
	keys := make([]string, 0, 2*len(charges)+1)
	args := make([]any, 0, 4+9*len(charges))
	args = append(args, nowUs, res, len(charges), 0)
	var recTTL int64
	var buf []byte
	for i := range charges {
		ch := &charges[i]
		win := ch.Window.Microseconds()
		if win <= 0 {
			return state.Result{}, fmt.Errorf("redisstore: reserve: charge %d (%s): window %v below a microsecond: %w", i, ch.Key, ch.Window, state.ErrInvalidCharge)
		}
		amount, err := toUnits(&ch.Amount)
		if err != nil {
			return state.Result{}, fmt.Errorf("redisstore: reserve: charge %d (%s): amount: %w", i, ch.Key, err)
		}
		limit, err := toUnits(&ch.Limit)
		if err != nil {
			return state.Result{}, fmt.Errorf("redisstore: reserve: charge %d (%s): limit: %w", i, ch.Key, err)
		}
		primary, total, end := s.keys(ch, now, buf)
		keys = append(keys, primary, total)
		kind, ttl, endUs := "s", ch.Window+grace, int64(0)
		if ch.Align == state.Calendar {
			kind, ttl, endUs = "c", end.Sub(now)+grace, end.UnixMicro()
		}
		ttlMs := ttl.Milliseconds() + 1
		recTTL = max(recTTL, ttlMs)
		strict, keep := "0", "0"
		if ch.Strict {
			strict = "1"
		}
		if ch.KeepOnRefund {
			keep = "1"
		}
		args = append(args, kind, win, nowUs-win, amount, limit, strict, ttlMs, endUs, keep)
	}
	args[3] = recTTL
	keys = append(keys, s.prefix+"r:"+res)
	vals, err := reserveScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return state.Result{}, unavailable("reserve", err)
	}
	if len(vals) != 3+len(charges) {
		return state.Result{}, unavailable("reserve", fmt.Errorf("script returned %d values", len(vals)))
	}
	r := state.Result{Totals: make([]apd.Decimal, len(charges))}
	admitted, _ := vals[0].(int64)
	denied, _ := vals[1].(int64)
	retry, _ := vals[2].(int64)
	for i := range charges {
		t, _ := vals[3+i].(string)
		if err := fromUnits(&r.Totals[i], t); err != nil {
			return state.Result{}, unavailable("reserve", err)
		}
	}
	if admitted == 1 {
		r.Admitted, r.Reservation = true, res
	} else if denied >= 0 && int(denied) < len(charges) {
		r.Denied, r.RetryAfter = int(denied), time.Duration(retry)*time.Microsecond
		if r.RetryAfter > 0 {
			// Never promise more than a window: an event stamped by a client
			// whose clock runs ahead would otherwise push the wait past it.
			ch := &charges[denied]
			window := ch.Window
			if ch.Align == state.Calendar {
				start, end := state.CalendarBounds(now, ch.Window, ch.Location)
				window = end.Sub(start)
			}
			r.RetryAfter = min(r.RetryAfter, window)
		}
	} else {
		return state.Result{}, unavailable("reserve", fmt.Errorf("script denied charge %d of %d", denied, len(charges)))
	}
	return r, nil
}

// Commit implements state.Store: it deletes the reservation record, so that
// no later Refund can find it.
func (s *Store) Commit(ctx context.Context, reservation string) error {
	if s.closed.Load() {
		return errClosed
	}
	if reservation == "" {
		return nil
	}
	if err := s.rdb.Unlink(ctx, s.prefix+"r:"+reservation).Err(); err != nil {
		return unavailable("commit "+reservation, err)
	}
	return nil
}

// Refund implements state.Store. It reads the record to learn which keys
// the script will touch (scripts must declare their keys), then runs the
// refund script, which re-reads the record atomically.
func (s *Store) Refund(ctx context.Context, reservation string) error {
	if s.closed.Load() {
		return errClosed
	}
	if reservation == "" {
		return nil
	}
	rec := s.prefix + "r:" + reservation
	raw, err := s.rdb.Get(ctx, rec).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return unavailable("refund "+reservation, err)
	}
	var entries [][]string
	if err := json.Unmarshal(raw, &entries); err != nil {
		return unavailable("refund "+reservation, fmt.Errorf("record: %w", err))
	}
	keys := []string{rec}
	for _, e := range entries {
		if len(e) != 4 {
			return unavailable("refund "+reservation, fmt.Errorf("record entry %q", e))
		}
		keys = append(keys, e[1], e[2])
	}
	if err := refundScript.Run(ctx, s.rdb, keys).Err(); err != nil {
		return unavailable("refund "+reservation, err)
	}
	return nil
}

// Peek implements state.Store.
func (s *Store) Peek(ctx context.Context, now time.Time, key state.Key, window time.Duration, align state.Align, loc *time.Location) (apd.Decimal, error) {
	var d apd.Decimal
	if s.closed.Load() {
		return d, errClosed
	}
	ch := state.Charge{Key: key, Window: window, Align: align, Location: loc}
	primary, total, _ := s.keys(&ch, now, nil)
	kind := "s"
	if align == state.Calendar {
		kind = "c"
	}
	v, err := peekScript.Run(ctx, s.rdb, []string{primary, total}, kind, now.UnixMicro()-window.Microseconds()).Text()
	if err != nil {
		return d, unavailable("peek "+key.String(), err)
	}
	if err := fromUnits(&d, v); err != nil {
		return d, unavailable("peek "+key.String(), err)
	}
	return d, nil
}

// Close closes the connection pool; it is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.rdb.Close()
}

// toUnits renders a non-negative decimal as an integer count of 10^-scale.
func toUnits(d *apd.Decimal) (string, error) {
	var r apd.Decimal
	r.Reduce(d)
	if r.Sign() < 0 {
		return "", fmt.Errorf("%s is negative: %w", d, state.ErrInvalidCharge)
	}
	if r.Sign() == 0 {
		return "0", nil
	}
	e := int64(r.Exponent) + scale
	if e < 0 {
		return "", fmt.Errorf("%s has more than %d decimal places: %w", d, scale, state.ErrInvalidCharge)
	}
	if e > 1000 {
		return "", fmt.Errorf("%s is too large: %w", d, state.ErrInvalidCharge)
	}
	return r.Coeff.String() + strings.Repeat("0", int(e)), nil
}

func fromUnits(d *apd.Decimal, units string) error {
	if _, _, err := d.SetString(units); err != nil {
		return fmt.Errorf("total %q: %w", units, err)
	}
	d.Exponent -= scale
	d.Reduce(d)
	return nil
}
