// Package memstore is the in-memory state.Store: exact and fast, for tests and
// --state memory. Counts live as long as the process.
package memstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/apd/v3"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
)

var _ state.Store = (*Store)(nil)

// sweepEvery is how far the callers' clock must move between two sweeps of
// dead counters and forgotten reservations; sweepGrace is how long past its
// expiry something is kept, so a caller whose clock lags a little still sees
// it.
const (
	sweepEvery = time.Minute
	sweepGrace = time.Minute
)

// Store is an in-memory state.Store guarded by one mutex; each call holds it
// for a few map lookups and decimal additions. All methods are safe for
// concurrent use.
//
// Commit is final: a Refund after Commit is ignored. A reservation neither
// committed nor refunded is forgotten (and stays counted) once all its
// charges have left their windows.
type Store struct {
	mu       sync.Mutex
	closed   bool
	counters map[string]*ledger.Counter
	pending  map[string]*reservation
	seq      uint64
	latest   int64 // latest now seen, drives sweeping
	swept    int64
	idbuf    []byte
	scratch  []*ledger.Counter
}

// reservation is what Refund needs: the refundable charges (those not
// marked KeepOnRefund) and when the last of them leaves its window.
type reservation struct {
	charges []charge
	expires int64
}

type charge struct {
	c   *ledger.Counter
	idx int
}

// New returns an empty store.
func New() *Store {
	return &Store{counters: make(map[string]*ledger.Counter), pending: make(map[string]*reservation)}
}

var errClosed = fmt.Errorf("memstore: closed: %w", state.ErrUnavailable)

// Reserve implements state.Store.
func (s *Store) Reserve(ctx context.Context, now time.Time, charges []state.Charge) (state.Result, error) {
	if err := state.Validate(charges); err != nil {
		return state.Result{}, fmt.Errorf("reserve: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return state.Result{}, fmt.Errorf("reserve: %w", err)
	}
	t := now.UnixNano()
	var r state.Result
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return r, errClosed
	}
	s.sweep(t)
	ctrs := s.scratch[:0]
	for i := range charges {
		s.idbuf = ledger.AppendID(s.idbuf[:0], &charges[i])
		c := s.counters[string(s.idbuf)]
		if c == nil {
			c = ledger.New(&charges[i])
			s.counters[string(s.idbuf)] = c
		}
		c.Advance(t)
		ctrs = append(ctrs, c)
	}
	s.scratch = ctrs
	defer clear(ctrs)
	s.seq++
	res := "m" + strconv.FormatUint(s.seq, 36)
	if !ledger.Reserve(t, charges, ctrs, res, &r, nil, 0) {
		return r, nil
	}
	var rv *reservation
	for i, c := range ctrs {
		if charges[i].KeepOnRefund {
			continue
		}
		if rv == nil {
			rv = &reservation{}
		}
		rv.charges = append(rv.charges, charge{c, i})
		rv.expires = max(rv.expires, c.Expires())
	}
	if rv != nil {
		// A reservation with nothing refundable has nothing for Refund to do.
		s.pending[res] = rv
	}
	return r, nil
}

// Commit implements state.Store. It only forgets the reservation, which makes
// a later Refund of it a no-op.
func (s *Store) Commit(ctx context.Context, reservation string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	delete(s.pending, reservation)
	return nil
}

// Refund implements state.Store.
func (s *Store) Refund(ctx context.Context, reservation string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	rv := s.pending[reservation]
	if rv == nil {
		return nil
	}
	delete(s.pending, reservation)
	for _, ch := range rv.charges {
		ch.c.Remove(reservation, ch.idx)
	}
	return nil
}

// Peek implements state.Store.
func (s *Store) Peek(ctx context.Context, now time.Time, key state.Key, window time.Duration, align state.Align, loc *time.Location) (apd.Decimal, error) {
	ch := state.Charge{Key: key, Window: window, Align: align, Location: loc}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return apd.Decimal{}, errClosed
	}
	s.idbuf = ledger.AppendID(s.idbuf[:0], &ch)
	c := s.counters[string(s.idbuf)]
	if c == nil {
		return apd.Decimal{}, nil
	}
	return c.TotalAt(now.UnixNano()), nil
}

// Close implements state.Store; it drops every count.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.counters, s.pending = nil, nil
	return nil
}

// sweep drops dead counters and reservations whose charges have all left
// their windows, at most once per sweepEvery of the callers' clock.
func (s *Store) sweep(now int64) {
	s.latest = max(s.latest, now)
	if s.latest-s.swept < int64(sweepEvery) {
		return
	}
	s.swept = s.latest
	dead := s.latest - int64(sweepGrace)
	for id, c := range s.counters {
		if c.Expires() <= dead {
			delete(s.counters, id)
		}
	}
	for id, rv := range s.pending {
		if rv.expires <= dead {
			delete(s.pending, id)
		}
	}
}
