// Package calls owns the short-lived records a gate keeps about calls in
// flight between rounds — the multi round-trip retry a server's interim
// result admits, the task a call created — and the Store contract its
// backends implement (memstore, sqlitestore, redisstore; all pass
// callstest.Run). Kept in the state backend several Tollgate processes
// share, a record written by one process is read by another: a retry or a
// tasks/get that a load balancer sends to another instance finds what the
// first instance noted. It knows nothing of what a record means; the gate
// chooses the keys and encodes the values.
package calls

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// ErrUnavailable wraps a backend's failure (and any use of a closed
// store). A caller that cannot read a record must act as if there were
// none, in the safe direction for what the record would have allowed.
var ErrUnavailable = errors.New("call store unavailable")

// Store keeps records: a value under a key until an expiry. A record
// whose expiry is not after the now a method is given is absent to every
// method, and is removed eventually (the store does not grow without
// bound with expired records). Expiries have millisecond precision: ttl
// is rounded up to a whole millisecond, and a ttl that is not positive is
// an error. Values are opaque bytes (empty is a value); a returned value
// belongs to the caller.
//
// Every method is atomic with respect to every other caller of the same
// storage, in this process or another: of N callers of Add for one key,
// one stores; of N callers of Take, one gets the value. All methods are
// safe for concurrent use. Close is idempotent; after it every method
// fails with ErrUnavailable. Closing a store made over a shared handle
// (a *sql.DB, a Redis client) leaves the handle to its owner.
type Store interface {
	// Add stores val under key until now+ttl if no record has key (or
	// the one there has expired); stored reports whether it did.
	Add(ctx context.Context, key string, val []byte, ttl time.Duration, now time.Time) (stored bool, err error)
	// Put stores val under key until now+ttl, replacing any record.
	Put(ctx context.Context, key string, val []byte, ttl time.Duration, now time.Time) error
	// Get returns the value of key's record; ok is false when there is
	// none.
	Get(ctx context.Context, key string, now time.Time) (val []byte, ok bool, err error)
	// Take removes key's record and returns its value: of concurrent
	// takers, exactly one gets ok. ok is false when there was no record.
	Take(ctx context.Context, key string, now time.Time) (val []byte, ok bool, err error)
	Close() error
}

// ErrTTL is the error of a ttl that is not positive.
var ErrTTL = errors.New("a record's ttl must be positive")

// Millis returns ttl as whole milliseconds, rounded up, or ErrTTL: the
// backends' expiry arithmetic.
func Millis(ttl time.Duration) (int64, error) {
	if ttl <= 0 {
		return 0, ErrTTL
	}
	return int64((ttl + time.Millisecond - 1) / time.Millisecond), nil
}

// Scoped is one user's view of a Store several users share: its keys are
// prefixed with Scope's length, Scope and a colon ("3:srv:KEY"), so that
// no two scopes, whatever their names, read each other's records, nor an
// unscoped user whose keys do not start with a digit (a gateway's gates,
// one per server, beside the gateway-wide gate over one backend). Close
// does nothing: the shared store is closed by its owner.
type Scoped struct {
	Store
	Scope string
}

var _ Store = (*Scoped)(nil)

func (s *Scoped) key(k string) string { return strconv.Itoa(len(s.Scope)) + ":" + s.Scope + ":" + k }

// Add implements Store.
func (s *Scoped) Add(ctx context.Context, key string, val []byte, ttl time.Duration, now time.Time) (bool, error) {
	return s.Store.Add(ctx, s.key(key), val, ttl, now)
}

// Put implements Store.
func (s *Scoped) Put(ctx context.Context, key string, val []byte, ttl time.Duration, now time.Time) error {
	return s.Store.Put(ctx, s.key(key), val, ttl, now)
}

// Get implements Store.
func (s *Scoped) Get(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	return s.Store.Get(ctx, s.key(key), now)
}

// Take implements Store.
func (s *Scoped) Take(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	return s.Store.Take(ctx, s.key(key), now)
}

// Close implements Store; it leaves the shared store open.
func (s *Scoped) Close() error { return nil }
