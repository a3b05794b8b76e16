package sqlitestore

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// queue is where requests wait for a transaction. A caller that finds no
// transaction under way becomes the leader and runs one itself, for its own request and every
// request queued meanwhile (group commit), answers them, then hands the role
// on to the Store's relay goroutine if requests are still waiting, or leaves
// it vacant if none is. One call at a time thus runs its transaction on its
// own goroutine, with no wake-up of another thread on the way in or out;
// under load the relay (the Store's one goroutine for requests) leads
// transaction after transaction, each answering its calls with one wake-up.
type queue struct {
	mu       sync.Mutex
	waiting  []*request
	busy     bool // a leader (a caller or the relay) holds the role
	closed   bool
	idle     sync.Cond    // signalled when busy turns false; L is mu
	arriving atomic.Int64 // callers between entering do and queueing
	answered int          // requests in the last batch; leader only
	batch    []*request   // leader only
}

type kind uint8

const (
	kindReserve kind = iota
	kindRefund
	kindPeek
)

// request is one caller's operation on its way through a transaction.
type request struct {
	kind    kind
	now     int64
	charges []state.Charge // reserve; peek uses charges[0]
	res     string         // refund
	locs    []loc          // refund of an own reservation: its refundable charges
	foreign bool           // refund of a reservation this Store did not make

	result state.Result    // reserve
	total  decimal.Decimal // peek
	err    error

	// claimed is set by the leader that takes the request into a batch, or
	// by the caller when it gives up first; whoever sets it first decides.
	claimed atomic.Bool
	sig     chan struct{} // receives once the answer is in the request
}

func (r *request) claim() bool { return r.claimed.CompareAndSwap(false, true) }

// do runs r in a transaction, as the leader or behind one (a caller's or
// the relay's). A caller whose
// ctx ends before a leader took r withdraws it; once taken, the answer is
// awaited (bounded by BusyTimeout) so that an admitted reservation is never
// lost.
func (s *Store) do(ctx context.Context, r *request) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", state.ErrUnavailable, err)
	}
	q := &s.q
	q.arriving.Add(1)
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.arriving.Add(-1)
		return errClosed
	}
	if !q.busy {
		q.busy = true
		q.mu.Unlock()
		q.arriving.Add(-1)
		r.claim()
		s.lead(r)
		return r.err
	}
	r.sig = make(chan struct{}, 1)
	q.waiting = append(q.waiting, r)
	q.mu.Unlock()
	q.arriving.Add(-1)
	select {
	case <-r.sig:
	case <-ctx.Done():
		if r.claim() {
			return fmt.Errorf("%w: %w", state.ErrUnavailable, ctx.Err())
		}
		<-r.sig
	}
	return r.err
}

// lead runs one transaction for own (already claimed) and the requests
// waiting, then hands the role on: to the relay if requests are still
// waiting, or leaves it vacant.
func (s *Store) lead(own *request) {
	growStack()
	s.batch(own)
	q := &s.q
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.waiting) > 0 {
		// The relay is idle (the role was this goroutine's), so its
		// channel has room.
		s.relay <- struct{}{}
		return
	}
	q.busy = false
	q.idle.Broadcast()
}

// relayLoop leads transactions for as long as requests keep arriving
// behind one: under load the role stays on this one goroutine, whose stack
// has grown to what SQLite needs once, instead of passing to a fresh
// caller's goroutine (see growStack) every transaction. It waits for the
// role from lead and gives it up (vacant) once nothing is waiting; Close
// stops it.
func (s *Store) relayLoop() {
	defer close(s.relayDone)
	growStack()
	q := &s.q
	for range s.relay {
		for {
			q.mu.Lock()
			if len(q.waiting) == 0 {
				q.busy = false
				q.idle.Broadcast()
				q.mu.Unlock()
				break
			}
			q.mu.Unlock()
			s.batch(nil)
		}
	}
}

// batch runs one transaction for own (nil for the relay) and the requests
// waiting. Callers on their way in, or answered by the last batch and
// about to come back, can still join: yielding a few times lets them,
// instead of each paying for a transaction of its own. The leader yields
// at least once: callers that are ready to run on this processor but have
// not run yet (a proxy hands the calls of a burst to goroutines that run
// one after another on one processor) queue behind it then, where
// without the yield each would run a transaction of its own after it,
// and the batches of a loaded proxy stayed at one (measured,
// docs/performance.md). With nothing else to run the yield costs a trip
// through the scheduler.
func (s *Store) batch(own *request) {
	q := &s.q
	batch := q.batch[:0]
	if own != nil {
		batch = append(batch, own)
	}
	for spins := 0; ; spins++ {
		batch = q.take(batch)
		if spins == 8 || len(batch) >= maxBatch || (spins > 0 && q.arriving.Load() <= 0 && len(batch) >= q.answered) {
			break
		}
		runtime.Gosched()
	}
	if len(batch) > 0 {
		q.answered = len(batch)
		s.w.apply(batch)
	}
	clear(batch)
	q.batch = batch[:0]
}

// take moves waiting requests into batch, up to maxBatch; those whose
// caller gave up are dropped.
func (q *queue) take(batch []*request) []*request {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, r := range q.waiting {
		if len(batch) >= maxBatch {
			break
		}
		n++
		if r.claim() {
			batch = append(batch, r)
		}
	}
	rest := copy(q.waiting, q.waiting[n:])
	clear(q.waiting[rest:])
	q.waiting = q.waiting[:rest]
	return batch
}

// shut refuses new requests and waits until the last leader is done.
func (q *queue) shut() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	for q.busy {
		q.idle.Wait()
	}
}

// leaderStack is how much stack a transaction needs, about: SQLite's code
// (translated from C) runs deep, with large frames.
const leaderStack = 32 << 10

// growStack makes sure the calling goroutine has leaderStack to spare. The
// leader is often a goroutine made for one call (the proxy starts one per
// admission), with the smallest stack: letting SQLite grow it would double
// and copy it several times, each copy walking every frame of a deep stack
// (about 20µs a call, measured). One big frame here grows it once, while
// it is shallow; on a goroutine whose stack is already big it costs the
// clearing of the frame.
//
//go:noinline
func growStack() byte {
	var frame [leaderStack]byte
	return touch(frame[:])
}

//go:noinline
func touch(b []byte) byte { return b[0] ^ b[len(b)-1] }
