// Package redisstore is the fleet calls.Store: records in the same Redis
// and under the same key prefix as the counters, approvals and pins, so a
// record one proxy writes is read by every proxy sharing the prefix.
//
// A record is the string "{prefix}:calls:<key>" holding "<expires ms>:<value>",
// with a Redis expiry (PX) of its ttl so that Redis removes it: the expiry
// in the value is the one the methods judge by (the callers' clock), the
// Redis one only bounds how long it takes space. Add and Take are Lua
// scripts (read, then write or delete, atomically); Put and Get are one
// command each. All keys share the prefix's hash tag (one Cluster slot).
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

	"github.com/tollgate-mcp/tollgate/internal/calls"
)

var _ calls.Store = (*Store)(nil)

// DefaultPrefix is the counters' default prefix, shared.
const DefaultPrefix = "tollgate"

// Store is a Redis calls.Store over a shared client.
type Store struct {
	rdb    *redis.Client
	prefix string // "{prefix}:calls:"
	closed atomic.Bool
}

// New makes a Store over rdb (the counters' client, made with the
// counters' redisstore.ClientOptions: no retries, since a script whose
// reply was lost may have run) under prefix (DefaultPrefix when empty; no
// braces). Close leaves rdb to its owner.
func New(rdb *redis.Client, prefix string) (*Store, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("open the call store: prefix %q must not contain braces", prefix)
	}
	return &Store{rdb: rdb, prefix: "{" + prefix + "}:calls:"}, nil
}

var errClosed = fmt.Errorf("calls redisstore: %w: closed", calls.ErrUnavailable)

func unavailable(op string, err error) error {
	return fmt.Errorf("calls redisstore: %s: %w: %w", op, calls.ErrUnavailable, err)
}

// addScript: KEYS[1] the record; ARGV now ms, the encoded record, its ttl
// ms. Stores unless a record there expires after now; returns 1 if it did.
var addScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
	local i = string.find(v, ':', 1, true)
	if i and tonumber(string.sub(v, 1, i - 1)) > tonumber(ARGV[1]) then
		return 0
	end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`)
})

// takeScript: KEYS[1] the record. Deletes it and returns what it held
// (false when nothing).
var takeScript = sync.OnceValue(func() *redis.Script {
	return redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v then
	redis.call('DEL', KEYS[1])
end
return v
`)
})

func encode(val []byte, expires int64) string {
	b := strconv.AppendInt(make([]byte, 0, 21+len(val)), expires, 10)
	b = append(b, ':')
	return string(append(b, val...))
}

// decode returns a record's value, or ok false when it expired by now.
func decode(rec string, now int64) (val []byte, ok bool, err error) {
	ms, v, found := strings.Cut(rec, ":")
	expires, perr := strconv.ParseInt(ms, 10, 64)
	if !found || perr != nil {
		return nil, false, fmt.Errorf("calls redisstore: a record is not \"<expires ms>:<value>\" (%.20q)", rec)
	}
	if expires <= now {
		return nil, false, nil
	}
	return []byte(v), true, nil
}

// Add implements calls.Store.
func (s *Store) Add(ctx context.Context, key string, val []byte, ttl time.Duration, now time.Time) (bool, error) {
	ms, err := calls.Millis(ttl)
	if err != nil {
		return false, err
	}
	if s.closed.Load() {
		return false, errClosed
	}
	at := now.UnixMilli()
	n, err := addScript().Run(ctx, s.rdb, []string{s.prefix + key}, at, encode(val, at+ms), ms).Int()
	if err != nil {
		return false, unavailable("add", err)
	}
	return n == 1, nil
}

// Put implements calls.Store.
func (s *Store) Put(ctx context.Context, key string, val []byte, ttl time.Duration, now time.Time) error {
	ms, err := calls.Millis(ttl)
	if err != nil {
		return err
	}
	if s.closed.Load() {
		return errClosed
	}
	at := now.UnixMilli()
	if err := s.rdb.Set(ctx, s.prefix+key, encode(val, at+ms), time.Duration(ms)*time.Millisecond).Err(); err != nil {
		return unavailable("put", err)
	}
	return nil
}

// Get implements calls.Store.
func (s *Store) Get(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	if s.closed.Load() {
		return nil, false, errClosed
	}
	rec, err := s.rdb.Get(ctx, s.prefix+key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, unavailable("get", err)
	}
	return decode(rec, now.UnixMilli())
}

// Take implements calls.Store.
func (s *Store) Take(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	if s.closed.Load() {
		return nil, false, errClosed
	}
	rec, err := takeScript().Run(ctx, s.rdb, []string{s.prefix + key}).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, unavailable("take", err)
	}
	return decode(rec, now.UnixMilli())
}

// Close implements calls.Store; the client stays open for its owner.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}
