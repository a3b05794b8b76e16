// Package redisstore is the fleet pins.Backend: pins in the same Redis and
// under the same key prefix as the counters and approvals, so a change
// approved through one proxy (or the CLI) is honoured by every proxy.
//
// A server's pins are one hash "{prefix}:pins:<h>" (h: the first 32 hex
// digits of the SHA-256 of the server's name, which may be any text):
// field "p:<kind>:<name>" holds a pin's JSON record, "b:<kind>" when the
// first full list of that kind was recorded (ms), "server" the name.
// "{prefix}:pins:servers" is the set of server names. Update is an
// optimistic transaction (WATCH the hash, read, MULTI/EXEC the writes),
// retried when another writer got in between, so it is atomic across
// processes. All keys share the prefix's hash tag (one Cluster slot).
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-mcp/tollgate/internal/pins"
)

var _ pins.Backend = (*Backend)(nil)

// DefaultPrefix is the counters' default prefix, shared.
const DefaultPrefix = "tollgate"

// maxAttempts bounds the retries of an Update that keeps losing its
// optimistic transaction to other writers.
const maxAttempts = 64

// Backend is a Redis pins.Backend over a shared client.
type Backend struct {
	rdb    *redis.Client
	prefix string // "{prefix}:pins:"
	closed atomic.Bool
}

// New makes a Backend over rdb (the counters' client) under prefix
// (DefaultPrefix when empty; no braces). Close leaves rdb to its owner.
func New(rdb *redis.Client, prefix string) (*Backend, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if strings.ContainsAny(prefix, "{}") {
		return nil, fmt.Errorf("open the pin store: prefix %q must not contain braces", prefix)
	}
	return &Backend{rdb: rdb, prefix: "{" + prefix + "}:pins:"}, nil
}

var errClosed = fmt.Errorf("pins redisstore: %w: closed", pins.ErrUnavailable)

func (b *Backend) serverKey(server string) string {
	sum := sha256.Sum256([]byte(server))
	return b.prefix + hex.EncodeToString(sum[:16])
}

func unavailable(err error) error { return fmt.Errorf("%w: %w", pins.ErrUnavailable, err) }

// Update implements pins.Backend.
func (b *Backend) Update(ctx context.Context, server string, fn func(*pins.Snapshot) error) error {
	if b.closed.Load() {
		return errClosed
	}
	key := b.serverKey(server)
	var fnErr error
	for range maxAttempts {
		fnErr = nil
		err := b.rdb.Watch(ctx, func(tx *redis.Tx) error {
			fields, err := tx.HGetAll(ctx, key).Result()
			if err != nil {
				return unavailable(err)
			}
			snap, err := decode(server, fields)
			if err != nil {
				return err
			}
			if fnErr = fn(snap); fnErr != nil {
				return fnErr
			}
			dirty, baselined := snap.Dirty()
			if len(dirty) == 0 && !baselined {
				return nil
			}
			vals := []any{"server", server}
			for _, p := range dirty {
				rec, err := json.Marshal(p)
				if err != nil {
					return fmt.Errorf("encode pin %s: %w", p.Key(), err)
				}
				vals = append(vals, "p:"+p.Key(), string(rec))
			}
			for k, at := range snap.Baselined {
				vals = append(vals, "b:"+string(k), strconv.FormatInt(at.UnixMilli(), 10))
			}
			_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
				pipe.HSet(ctx, key, vals...)
				pipe.SAdd(ctx, b.prefix+"servers", server)
				return nil
			})
			return err
		}, key)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, redis.TxFailedErr):
			continue
		case fnErr != nil:
			return fnErr
		case errors.Is(err, pins.ErrUnavailable):
			return err
		default:
			return unavailable(err)
		}
	}
	return unavailable(fmt.Errorf("update the pins of %q: lost %d optimistic transactions to other writers", server, maxAttempts))
}

// Load implements pins.Backend.
func (b *Backend) Load(ctx context.Context, server string) (*pins.Snapshot, error) {
	if b.closed.Load() {
		return nil, errClosed
	}
	fields, err := b.rdb.HGetAll(ctx, b.serverKey(server)).Result()
	if err != nil {
		return nil, unavailable(err)
	}
	return decode(server, fields)
}

func decode(server string, fields map[string]string) (*pins.Snapshot, error) {
	snap := pins.NewSnapshot(server)
	for f, v := range fields {
		switch {
		case strings.HasPrefix(f, "p:"):
			p := new(pins.Pin)
			if err := json.Unmarshal([]byte(v), p); err != nil {
				return nil, fmt.Errorf("decode pin %q of %q: %w", f, server, err)
			}
			snap.Pins[p.Key()] = p
		case strings.HasPrefix(f, "b:"):
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("decode %q of %q: %w", f, server, err)
			}
			snap.Baselined[pins.Kind(f[2:])] = time.UnixMilli(ms)
		}
	}
	return snap, nil
}

// Servers implements pins.Backend.
func (b *Backend) Servers(ctx context.Context) ([]string, error) {
	if b.closed.Load() {
		return nil, errClosed
	}
	out, err := b.rdb.SMembers(ctx, b.prefix+"servers").Result()
	if err != nil {
		return nil, unavailable(err)
	}
	slices.Sort(out)
	return out, nil
}

// Close implements pins.Backend; the client stays open for its owner.
func (b *Backend) Close() error {
	b.closed.Store(true)
	return nil
}
