// Package redisstore is the fleet approval.Store: records in the same Redis
// and under the same key prefix as the counters, so an approval given
// through one proxy is honoured by every proxy sharing the prefix.
//
// A record is a hash "{prefix}:apr:<id>"; "{prefix}:aprfp:<fingerprint>"
// indexes the records of one call and "{prefix}:apridx" all records, both
// sorted sets scored by creation time. Every state change is one Lua script,
// so consuming an approval is atomic across processes. The scripts reach
// record keys they discover in an index; all keys share the prefix's hash
// tag, so they live in one Redis Cluster slot. Records and indexes expire
// Retention after the record does.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tollgate-mcp/tollgate/internal/approval"
)

var _ approval.Store = (*Store)(nil)

// DefaultPrefix is the counters' default prefix, shared.
const DefaultPrefix = "tollgate"

// Retention is how long a record is kept after its expiry.
const Retention = 7 * 24 * time.Hour

// Options tunes a Store; the zero value is ready to use.
type Options struct {
	// Prefix is the key prefix and Cluster hash tag (default "tollgate");
	// it must not contain '{' or '}'.
	Prefix string
	// Timeout bounds each round trip unless the URL sets its own (default 2s).
	Timeout time.Duration
}

// Store is a Redis-backed approval.Store; all methods are safe for
// concurrent use.
type Store struct {
	rdb        *redis.Client
	ownsClient bool   // Open's client, closed with the Store
	prefix     string // "{prefix}:"
	closed     atomic.Bool
}

// Open connects to the Redis at url (redis:// or rediss://) and checks that
// it answers.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("open approvals: prefix %q must not contain braces", opts.Prefix)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	o, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("open approvals: %w", err)
	}
	q := url[strings.IndexByte(url+"?", '?'):]
	for name, d := range map[string]*time.Duration{"dial_timeout": &o.DialTimeout, "read_timeout": &o.ReadTimeout,
		"write_timeout": &o.WriteTimeout, "pool_timeout": &o.PoolTimeout} {
		if !strings.Contains(q, name) {
			*d = opts.Timeout
		}
	}
	// A script whose reply was lost may have run: never replay it.
	o.MaxRetries = -1
	o.ContextTimeoutEnabled = true
	s := &Store{rdb: redis.NewClient(o), ownsClient: true, prefix: "{" + opts.Prefix + "}:"}
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		s.rdb.Close()
		return nil, unavailable("open approvals at "+o.Addr, err)
	}
	return s, nil
}

// New makes a Store over rdb, the counters' client (made with the
// counters' redisstore.ClientOptions: no retries), under the same prefix.
// Close leaves rdb open for its owner.
func New(rdb *redis.Client, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("open approvals: prefix %q must not contain braces", opts.Prefix)
	}
	return &Store{rdb: rdb, prefix: "{" + opts.Prefix + "}:"}, nil
}

var errClosed = fmt.Errorf("approvals: closed: %w", approval.ErrUnavailable)

func unavailable(op string, err error) error {
	return fmt.Errorf("%s: %w: %w", op, approval.ErrUnavailable, err)
}

func (s *Store) recKey(id string) string { return s.prefix + "apr:" + id }

// beginScript: KEYS[1] fingerprint index, KEYS[2] all-records index.
// ARGV: record key prefix, now ms, dedupe ms, retention ms, verify ("1":
// do not consume an approved record, return the live approved ones for the
// caller to check), ids to ignore (refused by the caller's check, joined by
// ","), then the new record's field/value pairs (id first, created_ms and
// expires_ms among them). Returns {outcome, record as a flat field/value
// list, expired ids}, or in verify mode {"candidates", list of records
// oldest first, expired ids} when there are approved records to check.
var beginScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(`
local pre, now, dedupe, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local verify = ARGV[5] == '1'
local ignore = {}
for x in string.gmatch(ARGV[6], '[^,]+') do ignore[x] = true end
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local approved, ac, denied, dd, pending, pc
local expired = {}
local cands = {}
for _, id in ipairs(ids) do
  local k = pre .. id
  local f = redis.call('HMGET', k, 'status', 'expires_ms', 'created_ms', 'decided_ms')
  if not f[1] then
    redis.call('ZREM', KEYS[1], id)
  else
    local st, exp, cr, dec = f[1], tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
    if (st == 'pending' or st == 'approved') and now >= exp then
      redis.call('HSET', k, 'status', 'expired')
      table.insert(expired, id)
    elseif now < exp then
      if st == 'approved' then
        if ignore[id] then
        elseif verify then
          table.insert(cands, {cr, id})
        elseif not approved or cr < ac then approved, ac = id, cr end
      elseif st == 'denied' then
        if not denied or dec > dd then denied, dd = id, dec end
      elseif st == 'pending' and dedupe > 0 and now - cr < dedupe then
        if not pending or cr > pc then pending, pc = id, cr end
      end
    end
  end
end
if #cands > 0 then
  table.sort(cands, function(a, b) return a[1] < b[1] end)
  local recs = {}
  for _, c in ipairs(cands) do table.insert(recs, redis.call('HGETALL', pre .. c[2])) end
  return {'candidates', recs, expired}
end
local outcome, id
if approved then
  redis.call('HSET', pre .. approved, 'status', 'consumed', 'consumed_ms', ARGV[2])
  outcome, id = 'consumed', approved
elseif denied then
  outcome, id = 'denied', denied
elseif pending then
  outcome, id = 'reused', pending
else
  id = ARGV[8]
  local k = pre .. id
  local fields = {}
  local created, expires
  for i = 7, #ARGV, 2 do
    table.insert(fields, ARGV[i]); table.insert(fields, ARGV[i+1])
    if ARGV[i] == 'created_ms' then created = ARGV[i+1] end
    if ARGV[i] == 'expires_ms' then expires = tonumber(ARGV[i+1]) end
  end
  redis.call('HSET', k, unpack(fields))
  local ttl = math.max(expires - now, 0) + keep
  redis.call('PEXPIRE', k, ttl)
  redis.call('ZADD', KEYS[1], created, id)
  if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
  redis.call('ZADD', KEYS[2], created, id)
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - keep - 366 * 24 * 3600 * 1000)
  outcome = 'requested'
end
return {outcome, redis.call('HGETALL', pre .. id), expired}
`)
})

// changeScript: KEYS[1] the record. ARGV[1] operation (decide, consume,
// restore), ARGV[2] now ms, ARGV[3] approve "1"/"0", ARGV[4] approver,
// ARGV[5] note, ARGV[6] signature: stored by an approving decide; for
// consume, when not empty, the record must still carry this signature and
// approver (it is the record the caller verified). Returns {result, record}.
var changeScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(`
local k, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', k) == 0 then return {'notfound', {}} end
local f = redis.call('HMGET', k, 'status', 'expires_ms')
local st, exp = f[1], tonumber(f[2])
local res = 'ok'
if op == 'decide' then
  if st == 'pending' and now >= exp then
    redis.call('HSET', k, 'status', 'expired'); res = 'expired'
  elseif st ~= 'pending' then
    res = 'notpending'
  else
    local to, sig = 'denied', ''
    if ARGV[3] == '1' then to, sig = 'approved', ARGV[6] end
    redis.call('HSET', k, 'status', to, 'decided_ms', ARGV[2], 'approver', ARGV[4], 'note', ARGV[5], 'signature', sig)
  end
elseif op == 'consume' then
  if st == 'approved' and now >= exp then
    redis.call('HSET', k, 'status', 'expired'); res = 'expired'
  elseif st ~= 'approved' then
    res = 'notapproved'
  elseif ARGV[6] ~= '' and (redis.call('HGET', k, 'signature') ~= ARGV[6] or redis.call('HGET', k, 'approver') ~= ARGV[4]) then
    res = 'notapproved'
  else
    redis.call('HSET', k, 'status', 'consumed', 'consumed_ms', ARGV[2])
  end
elseif op == 'restore' then
  if st == 'consumed' then redis.call('HSET', k, 'status', 'approved', 'consumed_ms', '0') end
end
return {res, redis.call('HGETALL', k)}
`)
})

func fields(r approval.Record) []any {
	return []any{
		"id", r.ID, "fingerprint", r.Fingerprint, "status", string(approval.Pending), "tool", r.Tool,
		"args", r.Args, "args_hash", r.ArgsHash, "rule", r.Rule, "reason", r.Reason, "policy_rev", r.PolicyRev,
		"session", r.Session, "identity", r.Identity,
		"created_ms", strconv.FormatInt(approval.ToMillis(r.CreatedAt), 10),
		"expires_ms", strconv.FormatInt(approval.ToMillis(r.ExpiresAt), 10),
		"decided_ms", "0", "approver", "", "note", "", "consumed_ms", "0", "signature", "",
	}
}

func parse(flat []any) (approval.Record, error) {
	if len(flat) == 0 || len(flat)%2 != 0 {
		return approval.Record{}, approval.ErrNotFound
	}
	m := make(map[string]string, len(flat)/2)
	for i := 0; i < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	return fromMap(m)
}

func fromMap(m map[string]string) (approval.Record, error) {
	if len(m) == 0 {
		return approval.Record{}, approval.ErrNotFound
	}
	ms := func(k string) time.Time {
		n, _ := strconv.ParseInt(m[k], 10, 64)
		return approval.FromMillis(n)
	}
	r := approval.Record{
		ID: m["id"], Fingerprint: m["fingerprint"], Status: approval.Status(m["status"]), Tool: m["tool"],
		Args: m["args"], ArgsHash: m["args_hash"], Rule: m["rule"], Reason: m["reason"], PolicyRev: m["policy_rev"],
		Session: m["session"], Identity: m["identity"], CreatedAt: ms("created_ms"), ExpiresAt: ms("expires_ms"),
		DecidedAt: ms("decided_ms"), Approver: m["approver"], Note: m["note"], ConsumedAt: ms("consumed_ms"),
		Signature: m["signature"],
	}
	if !r.Status.Valid() {
		return r, fmt.Errorf("record %s has status %q", r.ID, r.Status)
	}
	return r, nil
}

// maxVerifyRounds bounds Begin's check-then-consume rounds; each round
// after the first means another process consumed a record this one had
// verified, or the record changed under it.
const maxVerifyRounds = 16

// Begin implements approval.Store. Lua cannot check an ed25519 signature,
// so with req.Verify the script returns the approved records instead of
// consuming one; Begin checks them here and consumes the first good one with
// a compare-and-set (still approved, same signature and approver), which
// is what keeps "exactly one of two racing calls consumes it". A call that
// loses the race runs the script again and gets what is left.
func (s *Store) Begin(ctx context.Context, req approval.BeginRequest) (approval.BeginResult, error) {
	var res approval.BeginResult
	if s.closed.Load() {
		return res, errClosed
	}
	verify := "0"
	if req.Verify != nil {
		verify = "1"
	}
	var ignore []string
	var expired []string
	for round := 0; ; round++ {
		if round == maxVerifyRounds {
			return res, unavailable("begin approval", errors.New("approved records kept changing while being checked"))
		}
		args := append([]any{s.prefix + "apr:", req.Now.UnixMilli(), req.Dedupe.Milliseconds(), Retention.Milliseconds(),
			verify, strings.Join(ignore, ",")}, fields(req.New)...)
		v, err := beginScript().Run(ctx, s.rdb, []string{s.prefix + "aprfp:" + req.New.Fingerprint, s.prefix + "apridx"}, args...).Slice()
		if err != nil {
			return res, unavailable("begin approval", err)
		}
		if len(v) != 3 {
			return res, unavailable("begin approval", fmt.Errorf("unexpected reply %v", v))
		}
		exp, _ := v[2].([]any)
		for _, x := range exp {
			id, _ := x.(string)
			expired = append(expired, id)
		}
		if v[0] == "candidates" {
			cands, _ := v[1].([]any)
			consumed := false
			for _, c := range cands {
				flat, _ := c.([]any)
				r, err := parse(flat)
				if err != nil {
					return res, unavailable("begin approval", err)
				}
				if err := req.Verify(r); err != nil {
					res.Unverified = append(res.Unverified, approval.Rejected{Record: r, Err: err})
					ignore = append(ignore, r.ID)
					continue
				}
				got, err := s.change(ctx, r.ID, "consume", req.Now, approval.Decision{Approver: r.Approver, Signature: r.Signature})
				if err == nil {
					res.Outcome, res.Record, consumed = approval.ConsumedNow, got, true
					break
				}
				if !errors.Is(err, approval.ErrNotApproved) && !errors.Is(err, approval.ErrExpired) && !errors.Is(err, approval.ErrNotFound) {
					return res, err
				}
			}
			if !consumed {
				continue
			}
		} else {
			switch v[0] {
			case "consumed":
				res.Outcome = approval.ConsumedNow
			case "denied":
				res.Outcome = approval.Refused
			case "reused":
				res.Outcome = approval.Reused
			default:
				res.Outcome = approval.Requested
			}
			flat, _ := v[1].([]any)
			if res.Record, err = parse(flat); err != nil {
				return res, unavailable("begin approval", err)
			}
		}
		break
	}
	for _, id := range expired {
		m, err := s.rdb.HGetAll(ctx, s.recKey(id)).Result()
		if err != nil {
			return res, unavailable("begin approval", err)
		}
		if r, err := fromMap(m); err == nil {
			res.Expired = append(res.Expired, r)
		}
	}
	return res, nil
}

func (s *Store) change(ctx context.Context, id, op string, now time.Time, d approval.Decision) (approval.Record, error) {
	if !approval.ValidID(id) {
		return approval.Record{}, approval.ErrNotFound
	}
	if s.closed.Load() {
		return approval.Record{}, errClosed
	}
	approve := "0"
	if d.Approve {
		approve = "1"
	}
	v, err := changeScript().Run(ctx, s.rdb, []string{s.recKey(id)}, op, now.UnixMilli(), approve, d.Approver, d.Note, d.Signature).Slice()
	if err != nil {
		return approval.Record{}, unavailable(op+" approval", err)
	}
	if len(v) != 2 {
		return approval.Record{}, unavailable(op+" approval", fmt.Errorf("unexpected reply %v", v))
	}
	if v[0] == "notfound" {
		return approval.Record{}, approval.ErrNotFound
	}
	flat, _ := v[1].([]any)
	r, err := parse(flat)
	if err != nil {
		return r, unavailable(op+" approval", err)
	}
	switch v[0] {
	case "expired":
		return r, approval.ErrExpired
	case "notpending":
		return r, approval.ErrNotPending
	case "notapproved":
		return r, approval.ErrNotApproved
	}
	return r, nil
}

// Decide implements approval.Store.
func (s *Store) Decide(ctx context.Context, id string, d approval.Decision) (approval.Record, error) {
	return s.change(ctx, id, "decide", d.Now, d)
}

// Consume implements approval.Store.
func (s *Store) Consume(ctx context.Context, id string, now time.Time) (approval.Record, error) {
	return s.change(ctx, id, "consume", now, approval.Decision{})
}

// Restore implements approval.Store.
func (s *Store) Restore(ctx context.Context, id string) error {
	_, err := s.change(ctx, id, "restore", time.Now(), approval.Decision{})
	if errors.Is(err, approval.ErrNotFound) {
		return nil
	}
	return err
}

// Get implements approval.Store.
func (s *Store) Get(ctx context.Context, id string, now time.Time) (approval.Record, error) {
	if !approval.ValidID(id) {
		return approval.Record{}, approval.ErrNotFound
	}
	if s.closed.Load() {
		return approval.Record{}, errClosed
	}
	m, err := s.rdb.HGetAll(ctx, s.recKey(id)).Result()
	if err != nil {
		return approval.Record{}, unavailable("get approval", err)
	}
	r, err := fromMap(m)
	if errors.Is(err, approval.ErrNotFound) {
		return r, err
	}
	if err != nil {
		return r, unavailable("get approval", err)
	}
	return approval.Effective(r, now), nil
}

// List implements approval.Store. It walks the index newest first, a page
// at a time, until it has Limit matching records.
func (s *Store) List(ctx context.Context, f approval.Filter) ([]approval.Record, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	now, limit := f.Now, f.Limit
	if now.IsZero() {
		now = time.Now()
	}
	if limit <= 0 {
		limit = 100
	}
	idx := s.prefix + "apridx"
	var out []approval.Record
	const page = 200
	for start := int64(0); len(out) < limit; start += page {
		ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: idx, Start: start, Stop: start + page - 1, Rev: true}).Result()
		if err != nil {
			return nil, unavailable("list approvals", err)
		}
		if len(ids) == 0 {
			break
		}
		cmds := make([]*redis.MapStringStringCmd, len(ids))
		_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = p.HGetAll(ctx, s.recKey(id))
			}
			return nil
		})
		if err != nil {
			return nil, unavailable("list approvals", err)
		}
		for _, c := range cmds {
			r, err := fromMap(c.Val())
			if err != nil {
				continue // expired from Redis; the index entry is pruned later
			}
			r = approval.Effective(r, now)
			if f.Status == "" || r.Status == f.Status {
				out = append(out, r)
				if len(out) == limit {
					break
				}
			}
		}
		if len(ids) < page {
			break
		}
	}
	return out, nil
}

// Close implements approval.Store. It closes the client only if Open
// made it.
func (s *Store) Close() error {
	if s.closed.Swap(true) || !s.ownsClient {
		return nil
	}
	return s.rdb.Close()
}
