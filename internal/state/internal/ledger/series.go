package ledger

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// Series is a Counter for a store that needs no per-event tag (the memory
// store): the same windows, totals, admissions and RetryAfter, at about four
// bytes per live event instead of eighty. A store that names its events by
// row number (the SQLite mirror) keeps four bytes more per event and
// refunds by row (AppendSeq, LoadSeq, AdvanceSeq, RemoveSeq).
//
// # Why it is exact
//
// Every answer a counter gives (the total at any time, whether a charge fits,
// RetryAfter, the number of live events) depends only on the multiset of
// live (time, amount) pairs, never on which reservation made an event. So a
// Series keeps exactly that multiset, losslessly encoded, and nothing else:
//
//   - times as 32-bit nanosecond offsets from the first event of their
//     block (a block starts afresh when an offset would not fit, or when it
//     holds blockCap events), so no time is rounded or merged: an event
//     leaves its window at the same nanosecond as it would in a Counter;
//   - amounts run-length encoded: consecutive events with an identical
//     amount (same value and same exponent: the run's decimal is each
//     event's, digit for digit) share one stored decimal.
//
// A refund names the event by its time and amount (Remove), which takes out
// one event of that pair: any of them, since they are indistinguishable.
// Its own event is still there if and only if one of the pair is, because
// events leave by time only, all events of one nanosecond together, and no
// event is ever recorded at or before a time that has left (Append raises
// it to the floor). Merging events of different times, however close, would
// change the total in between their two expiries, so a Series never does it:
// its memory is bounded by the traffic and, for a limit that admits at most
// N events per window (a count limit of N), by N, whichever is smaller.
type Series struct {
	Calendar bool
	Window   int64 // nanoseconds
	Loc      *time.Location
	// Total is the sum of the amounts of the live events.
	Total decimal.Decimal
	// Bucket and BucketEnd bound the current calendar window.
	Bucket, BucketEnd int64
	// floor: every event with At < floor has been dropped.
	floor  int64
	n      int     // live events
	blocks []block // oldest first; never an empty one
	// full is set once a block has filled up: a busy counter, whose next
	// blocks are allocated at their full size at once.
	full bool
}

// blockCap is how many events one block holds: 4 KiB of offsets.
const blockCap = 1024

// block holds events base+offs[i], non-decreasing; runs give their amounts
// in the same order (the counts of runs add up to len(offs)). In a series
// with row numbers (AppendSeq, LoadSeq: the SQLite store's mirror), event i
// is row seq0+seqs[i], increasing; seqs is nil otherwise.
type block struct {
	base int64
	offs []uint32
	runs []run
	seq0 int64
	seqs []uint32
}

type run struct {
	n      int
	amount decimal.Decimal
}

// NewSeries returns an empty series shaped by ch.
func NewSeries(ch *state.Charge) *Series {
	return &Series{Calendar: ch.Align == state.Calendar, Window: int64(ch.Window), Loc: ch.Location}
}

// Len is the number of events the series holds (some of which may have left
// the window since the last Advance).
func (s *Series) Len() int { return s.n }

// identical reports whether a and b are the same decimal in the same
// representation (1.5 and 1.50 are not).
func identical(a, b *decimal.Decimal) bool {
	return a.Exponent() == b.Exponent() && a.Cmp(b) == 0
}

// mulAdd sets d = d + k*x (k > 0) exactly, in the representation k
// additions of x would give.
func mulAdd(d *decimal.Decimal, k int, x *decimal.Decimal, neg bool) {
	var p decimal.Decimal
	if k == 1 {
		p = *x
	} else {
		kd := decimal.NewFromInt64(int64(k))
		if _, err := p.Mul(x, &kd); err != nil {
			// kd's exponent is 0, so the product's is x's: it cannot fail.
			panic("ledger: decimal mul: " + err.Error())
		}
	}
	if neg {
		d.Sub(d, &p)
	} else {
		d.Add(d, &p)
	}
}

// cutoff is the time at or before which events have left the window at now,
// as Counter.TotalAt computes it; ok is false when nothing has left (a
// calendar window not yet over).
func (s *Series) cutoff(now int64) (cut int64, ok bool) {
	if !s.Calendar {
		return now - s.Window, true
	}
	if now < s.BucketEnd {
		return 0, false
	}
	start, _ := state.CalendarBounds(time.Unix(0, now), time.Duration(s.Window), s.Loc)
	return start.UnixNano() - 1, true
}

// through reports the sum and number of the events at or before cut,
// without changing s.
func (s *Series) through(cut int64) (sum decimal.Decimal, n int) {
	for bi := range s.blocks {
		b := &s.blocks[bi]
		k := b.countThrough(cut)
		if k == 0 {
			break
		}
		left := k
		for ri := 0; left > 0; ri++ {
			r := &b.runs[ri]
			m := min(r.n, left)
			mulAdd(&sum, m, &r.amount, false)
			left -= m
		}
		n += k
		if k < len(b.offs) {
			break
		}
	}
	return sum, n
}

// countThrough is how many of b's events are at or before cut.
func (b *block) countThrough(cut int64) int {
	d := cut - b.base
	switch {
	case d < 0:
		return 0
	case d >= int64(b.offs[len(b.offs)-1]):
		return len(b.offs)
	}
	return sort.Search(len(b.offs), func(i int) bool { return int64(b.offs[i]) > d })
}

// Advance is Counter.Advance: it moves the series to now, dropping the events
// that have left the window, and reports whether it dropped any.
func (s *Series) Advance(now int64) (dropped bool) { return s.AdvanceSeq(now, nil) }

// AdvanceSeq is Advance, calling drop (when not nil) with the row number of
// each event it drops, in a series with row numbers.
func (s *Series) AdvanceSeq(now int64, drop func(seq int64)) (dropped bool) {
	cut := now - s.Window
	if s.Calendar {
		if now < s.BucketEnd {
			return false
		}
		start, end := state.CalendarBounds(time.Unix(0, now), time.Duration(s.Window), s.Loc)
		s.Bucket, s.BucketEnd, s.floor = start.UnixNano(), end.UnixNano(), start.UnixNano()
		cut = s.Bucket - 1
	} else if cut+1 > s.floor {
		s.floor = cut + 1
	}
	for len(s.blocks) > 0 {
		b := &s.blocks[0]
		k := b.countThrough(cut)
		if k == 0 {
			break
		}
		dropped = true
		s.n -= k
		if drop != nil && b.seqs != nil {
			for _, o := range b.seqs[:k] {
				drop(b.seq0 + int64(o))
			}
		}
		if k == len(b.offs) {
			for ri := range b.runs {
				mulAdd(&s.Total, b.runs[ri].n, &b.runs[ri].amount, true)
			}
			s.blocks[0] = block{}
			s.blocks = s.blocks[1:]
			continue
		}
		b.offs = b.offs[k:]
		if b.seqs != nil {
			b.seqs = b.seqs[k:]
		}
		ri := 0
		for k > 0 {
			r := &b.runs[ri]
			m := min(r.n, k)
			mulAdd(&s.Total, m, &r.amount, true)
			r.n -= m
			k -= m
			if r.n == 0 {
				ri++
			}
		}
		if ri > 0 {
			clear(b.runs[:ri])
			b.runs = b.runs[ri:]
		}
		break
	}
	if len(s.blocks) == 0 {
		s.blocks = s.blocks[:0:0]
	}
	return dropped
}

// TotalAt is Counter.TotalAt: the total at now, without changing s.
func (s *Series) TotalAt(now int64) decimal.Decimal {
	t := s.Total
	if cut, ok := s.cutoff(now); ok {
		sum, n := s.through(cut)
		if n > 0 {
			t.Sub(&t, &sum)
		}
	}
	return t
}

// UsageAt is Counter.UsageAt: TotalAt and the number of live events making
// it up, without changing s.
func (s *Series) UsageAt(now int64) (decimal.Decimal, int) {
	cut, ok := s.cutoff(now)
	if !ok {
		cut = s.Bucket - 1
	}
	_, gone := s.through(cut)
	return s.TotalAt(now), s.n - gone
}

// last is the time of the newest event; the series must not be empty.
func (s *Series) last() int64 {
	b := &s.blocks[len(s.blocks)-1]
	return b.base + int64(b.offs[len(b.offs)-1])
}

// Append is Counter.Append without a tag: it records amount at now (raised
// to keep events in order and inside the window) and returns that time.
func (s *Series) Append(now int64, amount *decimal.Decimal) int64 {
	at := max(now, s.floor)
	if s.n > 0 {
		at = max(at, s.last())
	}
	s.put(at, amount, 0)
	return at
}

// AppendSeq is Append for a series with row numbers: the event is row seq,
// which must be higher than every row the series holds.
func (s *Series) AppendSeq(now int64, amount *decimal.Decimal, seq int64) int64 {
	at := max(now, s.floor)
	if s.n > 0 {
		at = max(at, s.last())
	}
	s.put(at, amount, seq)
	return at
}

// LoadSeq adds row seq, recorded at `at`, to a series with row numbers
// without any check, to rebuild it from persistent storage (rows come in seq
// order). An event older than the newest one is recorded at the newest one's
// time: the rows a store writes never are (each is appended with AppendSeq
// after reading all the others), and an event that counts a little longer
// never admits too much. One already out of the window is dropped by the
// next Advance, as in a Counter.
func (s *Series) LoadSeq(at int64, amount *decimal.Decimal, seq int64) {
	if s.n > 0 {
		at = max(at, s.last())
	}
	s.put(at, amount, seq)
}

// put records amount at `at` (not before the last event); seq is its row
// number, 0 in a series without them.
func (s *Series) put(at int64, amount *decimal.Decimal, seq int64) {
	var b *block
	if nb := len(s.blocks); nb > 0 {
		b = &s.blocks[nb-1]
		if len(b.offs) >= blockCap || at-b.base > math.MaxUint32 ||
			(seq != 0 && (len(b.seqs) == 0 || seq <= b.seq0+int64(b.seqs[len(b.seqs)-1]) || seq-b.seq0 > math.MaxUint32)) {
			if len(b.offs) >= blockCap {
				s.full = true
			}
			b = nil
		}
	}
	if b == nil {
		s.blocks = append(s.blocks, block{base: at, seq0: seq})
		b = &s.blocks[len(s.blocks)-1]
		if s.full {
			b.offs = make([]uint32, 0, blockCap)
			if seq != 0 {
				b.seqs = make([]uint32, 0, blockCap)
			}
		}
	}
	b.offs = append(b.offs, uint32(at-b.base))
	if seq != 0 {
		b.seqs = append(b.seqs, uint32(seq-b.seq0))
	}
	if nr := len(b.runs); nr > 0 && identical(&b.runs[nr-1].amount, amount) {
		b.runs[nr-1].n++
	} else {
		b.runs = append(b.runs, run{n: 1})
		b.runs[len(b.runs)-1].amount = *amount
	}
	s.n++
	s.Total.Add(&s.Total, amount)
}

// Remove takes one event recorded at `at` with an identical amount off the
// series; false when there is none (refunded already, or left the window).
func (s *Series) Remove(at int64, amount *decimal.Decimal) bool {
	for bi := len(s.blocks) - 1; bi >= 0; bi-- {
		b := &s.blocks[bi]
		if at < b.base {
			continue
		}
		d := at - b.base
		if d > int64(b.offs[len(b.offs)-1]) {
			return false
		}
		i := sort.Search(len(b.offs), func(i int) bool { return int64(b.offs[i]) >= d })
		// Walk the events of that time, tracking which run each is in.
		ri, first := 0, 0 // run ri covers events [first, first+runs[ri].n)
		for ; i < len(b.offs) && int64(b.offs[i]) == d; i++ {
			for i >= first+b.runs[ri].n {
				first += b.runs[ri].n
				ri++
			}
			if identical(&b.runs[ri].amount, amount) {
				s.removeAt(bi, i, ri)
				s.Total.Sub(&s.Total, amount)
				return true
			}
		}
		if b.offs[0] < uint32(d) || bi == 0 {
			return false
		}
		// Events of that time may continue from the previous block.
	}
	return false
}

// removeAt deletes event i of block bi, which run ri holds.
func (s *Series) removeAt(bi, i, ri int) {
	b := &s.blocks[bi]
	s.n--
	if len(b.offs) == 1 {
		s.blocks = slices.Delete(s.blocks, bi, bi+1)
		return
	}
	b.offs = slices.Delete(b.offs, i, i+1)
	if b.seqs != nil {
		b.seqs = slices.Delete(b.seqs, i, i+1)
	}
	if b.runs[ri].n--; b.runs[ri].n == 0 {
		b.runs = slices.Delete(b.runs, ri, ri+1)
		if ri > 0 && ri < len(b.runs) && identical(&b.runs[ri-1].amount, &b.runs[ri].amount) {
			b.runs[ri-1].n += b.runs[ri].n
			b.runs = slices.Delete(b.runs, ri, ri+1)
		}
	}
}

// RemoveSeq takes row seq off a series with row numbers and reports when it
// was recorded; false when it is not there (refunded already, or left the
// window). Refunds are usually of recent rows: the search starts from the
// newest block.
func (s *Series) RemoveSeq(seq int64) (at int64, ok bool) {
	for bi := len(s.blocks) - 1; bi >= 0; bi-- {
		b := &s.blocks[bi]
		if b.seqs == nil || seq < b.seq0 || seq-b.seq0 > int64(b.seqs[len(b.seqs)-1]) {
			continue
		}
		d := uint32(seq - b.seq0)
		i, found := slices.BinarySearch(b.seqs, d)
		if !found {
			continue // rows out of order (never written so) may overlap an older block
		}
		ri, first := 0, 0 // run ri covers events [first, first+runs[ri].n)
		for i >= first+b.runs[ri].n {
			first += b.runs[ri].n
			ri++
		}
		at = b.base + int64(b.offs[i])
		s.Total.Sub(&s.Total, &b.runs[ri].amount)
		s.removeAt(bi, i, ri)
		return at, true
	}
	return 0, false
}

// EventEnd is Counter.EventEnd.
func (s *Series) EventEnd(at int64) int64 {
	if !s.Calendar {
		return at + s.Window
	}
	if at >= s.Bucket && at < s.BucketEnd {
		return s.BucketEnd
	}
	_, end := state.CalendarBounds(time.Unix(0, at), time.Duration(s.Window), s.Loc)
	return end.UnixNano()
}

// Expires is Counter.Expires: when the last event leaves the window; 0 when
// empty.
func (s *Series) Expires() int64 {
	if s.n == 0 {
		return 0
	}
	return s.EventEnd(s.last())
}

// RetryAfter is Counter.RetryAfter.
func (s *Series) RetryAfter(now int64, extra *decimal.Decimal, ch *state.Charge) time.Duration {
	var zero decimal.Decimal
	if !Fits(&zero, extra, &ch.Amount, &ch.Limit, ch.Strict) {
		return 0
	}
	if s.Calendar {
		return time.Duration(ClampRetry(s.BucketEnd-now, s.BucketEnd-s.Bucket))
	}
	left := s.Total
	for bi := range s.blocks {
		b := &s.blocks[bi]
		i := 0
		for ri := range b.runs {
			r := &b.runs[ri]
			for range r.n {
				left.Sub(&left, &r.amount)
				if Fits(&left, extra, &ch.Amount, &ch.Limit, ch.Strict) {
					return time.Duration(ClampRetry(b.base+int64(b.offs[i])+s.Window-now, s.Window))
				}
				i++
			}
		}
	}
	return 0
}
