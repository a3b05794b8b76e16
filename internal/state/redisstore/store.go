// Package redisstore is the fleet state.Store: counters in Redis, shared by
// every Tollgate process pointed at the same server and key prefix.
//
// Each Reserve is one Lua script that expires old events, checks every charge
// and records them all, or none, atomically: one round trip per call, and
// none to commit it. Sliding windows are sorted sets of events scored by time
// (microsecond resolution) beside a running exact total; calendar windows are
// one total per window. Every key carries a TTL slightly longer than its
// window, so idle counters disappear by themselves; a refund leaves a marker
// key that lives as long as the counters it touched.
//
// Versions before the reservation id carried the refund's keys wrote a
// record per reservation; both can run on the same counters during an
// upgrade, each refunding only its own reservations. The reserve script's
// arguments are private to one version (its client and its script, each
// version's its own SHA); the keys and the values in them are not, and have
// not changed, so a fleet in the middle of an upgrade enforces one limit
// (TestSharesCountersWithPreviousVersion runs the previous release's script
// beside this one).
//
// Cost: the script is about 25–35 µs of Redis's time for a rate limit and a
// spend cap (two sliding charges: GET and an empty ZRANGEBYSCORE each, then
// ZADD, PEXPIRE and SET each; ZADD is the dearest), the rest of a call's
// price is the round trip itself (BenchmarkRoundTrip beside
// BenchmarkReserve).
//
// Keys are "{<prefix>}:<kind>:<counter id>" (a calendar window's total and
// charge count add "@<window start>"). The prefix is the Redis Cluster
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
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tollgate-mcp/tollgate/internal/decimal"
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
// use.
//
// Reserve is one round trip (one script); Commit is none: a reservation
// counts as committed unless refunded, and nothing is written to finish it.
// Commit is final within the process that made the reservation (remembered
// in memory), so a later Refund of it there is ignored. What a refund needs
// (the counters and sorted-set members of the refundable charges) travels
// inside the reservation id, so a Refund works from any process sharing the
// prefix, and a marker key makes it happen once.
type Store struct {
	rdb        *redis.Client
	ownsClient bool   // Open's client, closed with the Store
	prefix     string // "{prefix}:"
	instance   string
	seq        atomic.Uint64
	closed     atomic.Bool

	mu      sync.Mutex
	pending map[string]*pending // own reservations with refundable charges, not yet committed or refunded
	latest  int64               // latest now seen (ns), drives sweeping
	swept   int64
}

// pending is what Refund needs of an own reservation: the refund script's
// keys and arguments, and when its charges leave their windows (after which
// it is forgotten).
type pending struct {
	keys    []string
	args    []any
	expires int64
}

// sweepEvery is how far the callers' clock must move between two sweeps of
// forgotten reservations.
const sweepEvery = time.Minute

// Open connects to the Redis at url (redis://[user:pass@]host:port/db or
// rediss:// for TLS; go-redis query options such as dial_timeout apply) and
// checks that it answers. The Store owns the client and closes it with
// itself.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	o, err := ClientOptions(url, opts.Timeout)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	rdb := redis.NewClient(o)
	s, err := New(rdb, opts)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	s.ownsClient = true
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.rdb.Close()
		return nil, unavailable("open "+o.Addr, err)
	}
	return s, nil
}

// ClientOptions are the client settings every Tollgate store of the Redis at
// url uses: url's own (redis://[user:pass@]host:port/db or rediss://, with
// go-redis query options such as dial_timeout), each round trip bounded by
// timeout (default 2s) unless the URL sets its own, and no retries.
func ClientOptions(url string, timeout time.Duration) (*redis.Options, error) {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	q := url[strings.IndexByte(url+"?", '?'):]
	if !strings.Contains(q, "dial_timeout") {
		o.DialTimeout = timeout
	}
	if !strings.Contains(q, "read_timeout") {
		o.ReadTimeout = timeout
	}
	if !strings.Contains(q, "write_timeout") {
		o.WriteTimeout = timeout
	}
	if !strings.Contains(q, "pool_timeout") {
		o.PoolTimeout = timeout
	}
	// A script whose reply was lost may have run: never replay it, or a call
	// would be charged twice.
	o.MaxRetries = -1
	o.ContextTimeoutEnabled = true
	o.Dialer = rawDialer(redis.NewDialer(o))
	return o, nil
}

// New makes a Store over rdb, a client others may share (made with
// ClientOptions: no retries). Close leaves rdb open for its owner.
func New(rdb *redis.Client, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: prefix %q must not contain braces", opts.Prefix)
	}
	var id [6]byte
	rand.Read(id[:])
	return &Store{rdb: rdb, prefix: "{" + opts.Prefix + "}:", instance: hex.EncodeToString(id[:]), pending: map[string]*pending{}}, nil
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
//
// The reservation id is "<instance>-<n>" followed, for each refundable
// charge, by "|s:<i>:<amount>:<len>:<counter id>" (sliding) or
// "|c:<i>:<amount>:<window start>:<len>:<counter id>" (calendar): i is the
// charge's 1-based index, amount in units, the window start in microseconds,
// and the counter id (ledger.AppendID) length-prefixed. From it any process
// can name the keys and sorted-set members to give back.
func (s *Store) Reserve(ctx context.Context, now time.Time, charges []state.Charge) (state.Result, error) {
	if err := state.Validate(charges); err != nil {
		return state.Result{}, fmt.Errorf("redisstore: reserve: %w", err)
	}
	if s.closed.Load() {
		return state.Result{}, errClosed
	}
	if len(charges) == 0 {
		return state.Result{Admitted: true, Totals: []decimal.Decimal{}}, nil
	}
	base := s.instance + "-" + strconv.FormatUint(s.seq.Add(1), 36)
	nowUs := now.UnixMicro()
	keys := make([]string, 0, 2*len(charges))
	args := make([]any, 0, 2+reserveArgs*len(charges))
	args = append(args, nowUs, len(charges))
	var (
		id  []byte // reservation id, once a charge is refundable
		p   *pending
		buf []byte
	)
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
		buf = ledger.AppendID(buf[:0], ch)
		counter := string(buf)
		kind, ttl, endUs, startUs := "s", ch.Window+grace, int64(0), int64(0)
		var primary, total, mem string
		if ch.Align == state.Calendar {
			start, end := state.CalendarBounds(now, ch.Window, ch.Location)
			kind, ttl, endUs, startUs = "c", end.Sub(now)+grace, end.UnixMicro(), start.UnixMicro()
			primary, total = s.calendarKey(counter, startUs), s.countKey(counter, startUs)
		} else {
			primary, total = s.prefix+"z:"+counter, s.prefix+"t:"+counter
			mem = member(base, i+1, amount)
		}
		keys = append(keys, primary, total)
		strict := "0"
		if ch.Strict {
			strict = "1"
		}
		args = append(args, kind, win, nowUs-win, amount, limit, strict, ttl.Milliseconds()+1, endUs, mem)
		if ch.KeepOnRefund {
			continue
		}
		if p == nil {
			p = &pending{}
			id = append(id, base...)
		}
		id = append(id, '|')
		id = append(id, kind...)
		id = append(id, ':')
		id = strconv.AppendInt(id, int64(i+1), 10)
		id = append(id, ':')
		id = append(id, amount...)
		id = append(id, ':')
		if kind == "c" {
			id = strconv.AppendInt(id, startUs, 10)
			id = append(id, ':')
		}
		id = strconv.AppendInt(id, int64(len(counter)), 10)
		id = append(id, ':')
		id = append(id, counter...)
		p.keys = append(p.keys, primary, total)
		if kind == "s" {
			p.args = append(p.args, kind, mem)
		} else {
			p.args = append(p.args, kind, amount)
		}
		p.expires = max(p.expires, now.Add(ttl).UnixNano())
	}
	vals, err := reserveScript().Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return state.Result{}, unavailable("reserve", err)
	}
	if len(vals) != 3+len(charges) {
		return state.Result{}, unavailable("reserve", fmt.Errorf("script returned %d values", len(vals)))
	}
	r := state.Result{Totals: make([]decimal.Decimal, len(charges))}
	admitted, _ := vals[0].(int64)
	denied, _ := vals[1].(int64)
	retry, _ := vals[2].(int64)
	for i := range charges {
		t, _ := vals[3+i].(string)
		if err := fromUnits(&r.Totals[i], t); err != nil {
			return state.Result{}, unavailable("reserve", err)
		}
	}
	switch {
	case admitted == 1:
		r.Admitted, r.Reservation = true, base
		if p != nil {
			r.Reservation = string(id)
			s.remember(now.UnixNano(), r.Reservation, p)
		}
	case denied >= 0 && int(denied) < len(charges):
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
	default:
		return state.Result{}, unavailable("reserve", fmt.Errorf("script denied charge %d of %d", denied, len(charges)))
	}
	return r, nil
}

func (s *Store) calendarKey(counter string, startUs int64) string {
	return s.prefix + "b:" + counter + "@" + strconv.FormatInt(startUs, 10)
}

// countKey is how many charges a calendar window holds (for Usage only:
// decisions read the total alone).
func (s *Store) countKey(counter string, startUs int64) string {
	return s.prefix + "n:" + counter + "@" + strconv.FormatInt(startUs, 10)
}

// member is a sliding charge's sorted-set member: "<res>:<i>:<amount>".
func member(base string, i int, amount string) string {
	return base + ":" + strconv.Itoa(i) + ":" + amount
}

// remember records an own reservation for Refund, and forgets those whose
// charges all left their windows a while ago.
func (s *Store) remember(now int64, res string, p *pending) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending[res] = p
	s.latest = max(s.latest, now)
	if s.latest-s.swept < int64(sweepEvery) {
		return
	}
	s.swept = s.latest
	for id, p := range s.pending {
		if p.expires <= s.latest-int64(grace) {
			delete(s.pending, id)
		}
	}
}

// QuickCommit implements state.QuickCommit: Commit waits on nothing.
func (s *Store) QuickCommit() {}

// Commit implements state.Store: it writes nothing, and only makes a later
// Refund of the reservation in this process a no-op.
func (s *Store) Commit(ctx context.Context, reservation string) error {
	if s.closed.Load() {
		return errClosed
	}
	s.mu.Lock()
	delete(s.pending, reservation)
	s.mu.Unlock()
	return nil
}

// Refund implements state.Store: one script, for the refundable charges of
// an own reservation not yet committed, or those named in another process's
// reservation id.
func (s *Store) Refund(ctx context.Context, reservation string) error {
	if s.closed.Load() {
		return errClosed
	}
	base, _, _ := strings.Cut(reservation, "|")
	var p *pending
	if strings.HasPrefix(base, s.instance+"-") {
		s.mu.Lock()
		p = s.pending[reservation]
		delete(s.pending, reservation)
		s.mu.Unlock()
	} else {
		p = s.parse(reservation)
	}
	if p == nil {
		return nil // committed, refunded, forgotten, or nothing to give back
	}
	keys := append([]string{s.prefix + "x:" + base}, p.keys...)
	if err := refundScript().Run(ctx, s.rdb, keys, p.args...).Err(); err != nil {
		return unavailable("refund "+base, err)
	}
	return nil
}

// parse reads the refundable charges out of a reservation id (see Reserve).
// An id without any, or one not made by this package, gives nil.
func (s *Store) parse(reservation string) *pending {
	base, rest, ok := strings.Cut(reservation, "|")
	if !ok {
		return nil
	}
	p := &pending{}
	for rest != "" {
		var kind, idx, amount, start string
		kind, rest, _ = strings.Cut(rest, ":")
		idx, rest, _ = strings.Cut(rest, ":")
		amount, rest, _ = strings.Cut(rest, ":")
		if kind == "c" {
			start, rest, _ = strings.Cut(rest, ":")
		}
		n, rest2, _ := strings.Cut(rest, ":")
		l, err := strconv.Atoi(n)
		i, err2 := strconv.Atoi(idx)
		startUs, err3 := strconv.ParseInt(start, 10, 64)
		if (kind != "s" && kind != "c") || err != nil || err2 != nil || (kind == "c" && err3 != nil) ||
			l < 0 || l > len(rest2) || !digits(amount) {
			return nil // not an id of ours: nothing to refund
		}
		counter := rest2[:l]
		rest = strings.TrimPrefix(rest2[l:], "|")
		if kind == "s" {
			p.keys = append(p.keys, s.prefix+"z:"+counter, s.prefix+"t:"+counter)
			p.args = append(p.args, kind, member(base, i, amount))
		} else {
			p.keys = append(p.keys, s.calendarKey(counter, startUs), s.countKey(counter, startUs))
			p.args = append(p.args, kind, amount)
		}
	}
	return p
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Peek implements state.Store.
func (s *Store) Peek(ctx context.Context, now time.Time, key state.Key, window time.Duration, align state.Align, loc *time.Location) (decimal.Decimal, error) {
	var d decimal.Decimal
	if s.closed.Load() {
		return d, errClosed
	}
	ch := state.Charge{Key: key, Window: window, Align: align, Location: loc}
	primary, total, _ := s.keys(&ch, now, nil)
	kind := "s"
	if align == state.Calendar {
		kind = "c"
	}
	v, err := peekScript().Run(ctx, s.rdb, []string{primary, total}, kind, now.UnixMicro()-window.Microseconds()).Text()
	if err != nil {
		return d, unavailable("peek "+key.String(), err)
	}
	if err := fromUnits(&d, v); err != nil {
		return d, unavailable("peek "+key.String(), err)
	}
	return d, nil
}

// Close closes the connection pool if Open opened it; it is idempotent.
func (s *Store) Close() error {
	if s.closed.Swap(true) || !s.ownsClient {
		return nil
	}
	return s.rdb.Close()
}

// zeros is enough zeros for the fast path of toUnits.
const zeros = "0000000000000000000000000000000000000000"

// toUnits renders a non-negative decimal as an integer count of 10^-scale.
func toUnits(d *decimal.Decimal) (string, error) {
	if c, ok := d.Uint64Coefficient(); ok && d.Sign() >= 0 {
		// Fast path, no big arithmetic: the coefficient's digits, less the
		// trailing zeros below the scale, then zeros up to it.
		e := int(d.Exponent())
		for c != 0 && c%10 == 0 && e < -scale {
			c, e = c/10, e+1
		}
		switch {
		case c == 0:
			return "0", nil
		case e >= -scale && e+scale <= len(zeros):
			var b [20 + len(zeros)]byte
			out := strconv.AppendUint(b[:0], c, 10)
			return string(append(out, zeros[:e+scale]...)), nil
		}
	}
	var r decimal.Decimal
	r.Reduce(d)
	if r.Sign() < 0 {
		return "", fmt.Errorf("%s is negative: %w", d, state.ErrInvalidCharge)
	}
	if r.Sign() == 0 {
		return "0", nil
	}
	e := int64(r.Exponent()) + scale
	if e < 0 {
		return "", fmt.Errorf("%s has more than %d decimal places: %w", d, scale, state.ErrInvalidCharge)
	}
	if e > 1000 {
		return "", fmt.Errorf("%s is too large: %w", d, state.ErrInvalidCharge)
	}
	// r × 10^scale has exponent e >= 0: its coefficient's digits, e zeros.
	unit := decimal.New(1, scale)
	if _, err := r.Mul(&r, &unit); err != nil {
		return "", fmt.Errorf("%s is too large: %w", d, state.ErrInvalidCharge)
	}
	return r.Text('f'), nil
}

func fromUnits(d *decimal.Decimal, units string) error {
	// Fast path: totals at cents or coarser have at least 16 trailing zeros
	// and few digits before them.
	z := 0
	for z < len(units)-1 && units[len(units)-1-z] == '0' {
		z++
	}
	if head := units[:len(units)-z]; len(head) <= 18 && digits(head) {
		u, _ := strconv.ParseUint(head, 10, 64)
		*d = decimal.Decimal{}
		if u != 0 {
			*d = decimal.New(u, int32(z-scale))
		}
		return nil
	}
	n, err := decimal.Parse(units)
	if err != nil {
		return fmt.Errorf("total %q: %w", units, err)
	}
	unit := decimal.New(1, -scale)
	if _, err := d.Mul(&n, &unit); err != nil {
		return fmt.Errorf("total %q: %w", units, err)
	}
	d.Reduce(d)
	return nil
}
