// Package memstore is the in-memory state.Store: exact and fast, for tests and
// --state memory. Counts live as long as the process.
package memstore

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
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
// for a few map lookups and decimal additions (ids, keys and results are
// prepared outside it). All methods are safe for concurrent use.
//
// One lock rather than a lock per counter: almost every call charges a
// global counter (a tool's rate limit), so per-key locks would serialize on
// it just the same, and cost a lock and an unlock per counter.
//
// Commit is final: a Refund after Commit is ignored. A reservation neither
// committed nor refunded is forgotten (and stays counted) once all its
// charges have left their windows.
type Store struct {
	seq atomic.Uint64

	mu       sync.Mutex
	closed   bool
	counters map[string]*ledger.Series
	pending  map[string]reservation
	latest   int64 // latest now seen, drives sweeping
	swept    int64
	scratch  []*ledger.Series
}

// reservation is what Refund needs: the refundable charges (those not
// marked KeepOnRefund: the first two inline, so that the usual reservation
// costs no allocation, the rest in more) and when the last of them leaves its
// window. It is the only per-call memory the store keeps beside the few
// bytes of each charge's event (see ledger.Series), and Commit frees it.
type reservation struct {
	inline  [2]charge
	more    []charge
	expires int64
}

// charge is one refundable charge: its series, and the time and amount it
// was recorded with, which is how Series.Remove finds it.
type charge struct {
	c      *ledger.Series
	at     int64
	amount decimal.Decimal
}

// New returns an empty store.
func New() *Store {
	return &Store{counters: make(map[string]*ledger.Series), pending: make(map[string]reservation)}
}

var errClosed = fmt.Errorf("memstore: closed: %w", state.ErrUnavailable)

// maxInline is how many charges' counter ids Reserve builds on its stack.
const maxInline = 4

// Reserve implements state.Store.
func (s *Store) Reserve(ctx context.Context, now time.Time, charges []state.Charge) (state.Result, error) {
	if err := state.Validate(charges); err != nil {
		return state.Result{}, fmt.Errorf("reserve: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return state.Result{}, fmt.Errorf("reserve: %w", err)
	}
	t := now.UnixNano()
	// Counter ids and the reservation id, before taking the lock.
	var (
		buf   [maxInline * 64]byte
		start [maxInline + 1]int // charge i's id is ids[start[i]:start[i+1]]
		ids   = buf[:0]
	)
	if len(charges) <= maxInline {
		for i := range charges {
			ids = ledger.AppendID(ids, &charges[i])
			start[i+1] = len(ids)
		}
	}
	var rb [24]byte
	res := string(strconv.AppendUint(append(rb[:0], 'm'), s.seq.Add(1), 36))
	r := state.Result{Totals: make([]decimal.Decimal, len(charges))}
	// When each charge is recorded, for Refund.
	var atbuf [maxInline]int64
	var ats []int64
	if len(charges) > maxInline {
		ats = make([]int64, len(charges))
	} else {
		ats = atbuf[:len(charges)]
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return state.Result{}, errClosed
	}
	s.sweep(t)
	ctrs := s.scratch[:0]
	var idbuf []byte
	for i := range charges {
		var id []byte
		if len(charges) <= maxInline {
			id = ids[start[i]:start[i+1]]
		} else {
			idbuf = ledger.AppendID(idbuf[:0], &charges[i])
			id = idbuf
		}
		c := s.counters[string(id)]
		if c == nil {
			c = ledger.NewSeries(&charges[i])
			s.counters[string(id)] = c
		}
		c.Advance(t)
		ctrs = append(ctrs, c)
	}
	s.scratch = ctrs
	defer clear(ctrs)
	if !ledger.ReserveSeries(t, charges, ctrs, res, &r, ats) {
		return r, nil
	}
	var rv reservation
	n := 0
	for i, c := range ctrs {
		if charges[i].KeepOnRefund {
			continue
		}
		ch := charge{c: c, at: ats[i]}
		ch.amount = charges[i].Amount
		if n < len(rv.inline) {
			rv.inline[n] = ch
		} else {
			rv.more = append(rv.more, ch)
		}
		n++
		rv.expires = max(rv.expires, c.Expires())
	}
	if n > 0 {
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
	rv, ok := s.pending[reservation]
	if !ok {
		return nil
	}
	delete(s.pending, reservation)
	for i := range rv.inline {
		if ch := &rv.inline[i]; ch.c != nil {
			ch.c.Remove(ch.at, &ch.amount)
		}
	}
	for i := range rv.more {
		rv.more[i].c.Remove(rv.more[i].at, &rv.more[i].amount)
	}
	return nil
}

// Peek implements state.Store.
func (s *Store) Peek(ctx context.Context, now time.Time, key state.Key, window time.Duration, align state.Align, loc *time.Location) (decimal.Decimal, error) {
	ch := state.Charge{Key: key, Window: window, Align: align, Location: loc}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return decimal.Decimal{}, errClosed
	}
	var buf [128]byte
	id := ledger.AppendID(buf[:0], &ch)
	c := s.counters[string(id)]
	if c == nil {
		return decimal.Decimal{}, nil
	}
	return c.TotalAt(now.UnixNano()), nil
}

// NonBlocking implements state.NonBlocking: the store waits on nothing but
// its own short critical sections.
func (s *Store) NonBlocking() {}

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
