// Package memstore is the in-process calls.Store: records live as long as
// the process (tests, --state memory), shared by every gate of it.
package memstore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/calls"
)

var _ calls.Store = (*Store)(nil)

// DefaultMax bounds the records a Store holds when New is given no bound.
const DefaultMax = 1 << 17

// sweepEvery is how often (by the callers' clock) Add removes expired
// records.
const sweepEvery = time.Minute

// Store keeps records in a map; it is safe for concurrent use.
type Store struct {
	max int

	mu        sync.Mutex
	closed    bool
	m         map[string]record
	lastSweep int64 // ms
}

type record struct {
	val     []byte // owned
	expires int64  // ms
}

// New returns an empty Store holding at most max records (DefaultMax when
// max is not positive). Past the bound, expired records are removed, and
// then live ones, in no particular order: a record lost that way reads as
// absent, as if it had expired.
func New(max int) *Store {
	if max <= 0 {
		max = DefaultMax
	}
	return &Store{max: max, m: map[string]record{}}
}

var errClosed = fmt.Errorf("calls memstore: %w: closed", calls.ErrUnavailable)

// Add implements calls.Store.
func (s *Store) Add(_ context.Context, key string, val []byte, ttl time.Duration, now time.Time) (bool, error) {
	ms, err := calls.Millis(ttl)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, errClosed
	}
	at := now.UnixMilli()
	if r, ok := s.m[key]; ok && r.expires > at {
		return false, nil
	}
	s.put(key, val, at, at+ms)
	return true, nil
}

// Put implements calls.Store.
func (s *Store) Put(_ context.Context, key string, val []byte, ttl time.Duration, now time.Time) error {
	ms, err := calls.Millis(ttl)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	at := now.UnixMilli()
	s.put(key, val, at, at+ms)
	return nil
}

// put stores a record, making room first; s.mu is held.
func (s *Store) put(key string, val []byte, at, expires int64) {
	if _, ok := s.m[key]; !ok && (len(s.m) >= s.max || at-s.lastSweep >= sweepEvery.Milliseconds()) {
		s.lastSweep = at
		for k, r := range s.m {
			if r.expires <= at {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < s.max {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[key] = record{val: append([]byte{}, val...), expires: expires}
}

// Get implements calls.Store.
func (s *Store) Get(_ context.Context, key string, now time.Time) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, errClosed
	}
	r, ok := s.m[key]
	if !ok || r.expires <= now.UnixMilli() {
		return nil, false, nil
	}
	return append([]byte{}, r.val...), true, nil
}

// Take implements calls.Store.
func (s *Store) Take(_ context.Context, key string, now time.Time) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false, errClosed
	}
	r, ok := s.m[key]
	if !ok {
		return nil, false, nil
	}
	delete(s.m, key)
	if r.expires <= now.UnixMilli() {
		return nil, false, nil
	}
	return r.val, true, nil
}

// Len returns how many records the store holds, expired ones included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// Close implements calls.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.m = nil
	return nil
}

// Handle returns a view of s with a Close of its own, as a second process
// opening the same storage would have: closing it leaves s and its other
// handles open.
func (s *Store) Handle() calls.Store { return &handle{s: s} }

type handle struct {
	s      *Store
	closed atomic.Bool
}

func (h *handle) Add(ctx context.Context, key string, val []byte, ttl time.Duration, now time.Time) (bool, error) {
	if h.closed.Load() {
		return false, errClosed
	}
	return h.s.Add(ctx, key, val, ttl, now)
}

func (h *handle) Put(ctx context.Context, key string, val []byte, ttl time.Duration, now time.Time) error {
	if h.closed.Load() {
		return errClosed
	}
	return h.s.Put(ctx, key, val, ttl, now)
}

func (h *handle) Get(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	if h.closed.Load() {
		return nil, false, errClosed
	}
	return h.s.Get(ctx, key, now)
}

func (h *handle) Take(ctx context.Context, key string, now time.Time) ([]byte, bool, error) {
	if h.closed.Load() {
		return nil, false, errClosed
	}
	return h.s.Take(ctx, key, now)
}

func (h *handle) Close() error {
	h.closed.Store(true)
	return nil
}
