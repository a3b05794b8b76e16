// Package ledger owns the in-memory counter arithmetic shared by the memory
// store and the SQLite store's mirror: strict sliding and calendar windows,
// exact decimal totals, the all-or-nothing admission check and RetryAfter.
// A Counter tags each event with its reservation and row (the SQLite
// usage reader); a Series keeps the same answers in a few bytes per event
// (the memory store), and with each event's row number in four more (the
// SQLite store's mirror).
//
// Nothing here is safe for concurrent use; callers hold their own lock (or
// confine a Counter to one goroutine).
package ledger

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// AppendID appends the backend identity of ch's counter to b: the key plus
// window and alignment (and location for calendar windows), so that changing
// a rule's window starts a fresh counter. Free-form parts are length-prefixed,
// which keeps the encoding injective whatever characters a key holds.
func AppendID(b []byte, ch *state.Charge) []byte {
	for _, s := range [...]string{ch.Key.Scope, ch.Key.Counter, ch.Key.Who} {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(ch.Window), 10)
	if ch.Align == state.Calendar {
		b = append(b, "/c/"...)
		b = append(b, locName(ch.Location)...)
	} else {
		b = append(b, "/s"...)
	}
	return b
}

// ParseID reads back the shape AppendID wrote into an id: the window and,
// for a calendar window, the location's name.
func ParseID(id string) (window time.Duration, calendar bool, loc string, err error) {
	rest := id
	for range 3 {
		n, after, ok := strings.Cut(rest, ":")
		l, err := strconv.Atoi(n)
		if !ok || err != nil || l < 0 || l > len(after) {
			return 0, false, "", fmt.Errorf("counter id %q: bad key", id)
		}
		rest = after[l:]
	}
	shape, ok := strings.CutPrefix(rest, "/")
	w, kind, ok2 := strings.Cut(shape, "/")
	ns, err := strconv.ParseInt(w, 10, 64)
	if !ok || !ok2 || err != nil || ns <= 0 {
		return 0, false, "", fmt.Errorf("counter id %q: bad window", id)
	}
	switch {
	case kind == "s":
		return time.Duration(ns), false, "", nil
	case strings.HasPrefix(kind, "c/") && len(kind) > 2:
		return time.Duration(ns), true, kind[2:], nil
	}
	return 0, false, "", fmt.Errorf("counter id %q: bad alignment", id)
}

func locName(loc *time.Location) string {
	if loc == nil {
		return "UTC"
	}
	return loc.String()
}

// Tag identifies a recorded charge: charge Idx of reservation Res. Seq is
// the persistent backend's row for it (0 when there is none); Keep is
// state.Charge.KeepOnRefund.
type Tag struct {
	Res  string
	Idx  int
	Seq  int64
	Keep bool
}

// Event is one recorded charge on one counter.
type Event struct {
	At     int64 // unix nanoseconds
	Amount decimal.Decimal
	Tag
}

// Counter is one counter's live state: the events still inside its window,
// in non-decreasing At order, and their exact Total.
type Counter struct {
	Calendar bool
	Window   int64 // nanoseconds
	Loc      *time.Location
	// Total is the sum of Amount over the live events.
	Total decimal.Decimal
	// Bucket and BucketEnd bound the current calendar window.
	Bucket, BucketEnd int64
	// floor: every event with At < floor has been dropped.
	floor  int64
	events []Event
	head   int
}

// New returns an empty counter shaped by ch.
func New(ch *state.Charge) *Counter {
	return &Counter{Calendar: ch.Align == state.Calendar, Window: int64(ch.Window), Loc: ch.Location}
}

// Floor reports the drop point: every event with At < Floor has left the
// window and been dropped by Advance.
func (c *Counter) Floor() int64 { return c.floor }

// Events returns the live events, oldest first. The slice is owned by c.
func (c *Counter) Events() []Event { return c.events[c.head:] }

// Load adds a stored event without any check; used to rebuild a counter from
// persistent storage. Events normally arrive oldest first; one that does not
// is put in its place.
func (c *Counter) Load(at int64, amount *decimal.Decimal, tag Tag) {
	i := len(c.events)
	c.events = append(c.events, Event{})
	for ; i > c.head && c.events[i-1].At > at; i-- {
		c.events[i] = c.events[i-1]
	}
	c.events[i] = Event{At: at, Tag: tag}
	c.events[i].Amount = *amount
	c.Total.Add(&c.Total, amount)
}

// SetBucket restores a calendar counter's current window from storage.
func (c *Counter) SetBucket(start, end int64) {
	c.Bucket, c.BucketEnd, c.floor = start, end, start
}

// Advance moves the counter to now, dropping events that have left the
// window: for a sliding window every event with At <= now-Window, for a
// calendar window everything from before the window containing now. Time that
// goes backwards drops nothing. It reports whether anything was dropped.
func (c *Counter) Advance(now int64) (dropped bool) { return c.AdvanceDrop(now, nil) }

// AdvanceDrop is Advance, calling drop (when not nil) with each event it
// drops, before dropping it.
func (c *Counter) AdvanceDrop(now int64, drop func(*Event)) (dropped bool) {
	cutoff := now - c.Window // sliding: events at or before it have left
	if c.Calendar {
		if now < c.BucketEnd {
			return false
		}
		start, end := state.CalendarBounds(time.Unix(0, now), time.Duration(c.Window), c.Loc)
		c.SetBucket(start.UnixNano(), end.UnixNano())
		// Events from before the window have left; an event another
		// process's clock already put in this window stays.
		cutoff = c.Bucket - 1
	} else if cutoff+1 > c.floor {
		c.floor = cutoff + 1
	}
	for c.head < len(c.events) && c.events[c.head].At <= cutoff {
		e := &c.events[c.head]
		if drop != nil {
			drop(e)
		}
		c.Total.Sub(&c.Total, &e.Amount)
		*e = Event{}
		c.head++
		dropped = true
	}
	if c.head == len(c.events) {
		c.events, c.head = c.events[:0], 0
	} else if c.head > 64 && c.head*2 > len(c.events) {
		n := copy(c.events, c.events[c.head:])
		clear(c.events[n:])
		c.events, c.head = c.events[:n], 0
	}
	return dropped
}

// TotalAt is the total the counter would have at now, without changing it.
func (c *Counter) TotalAt(now int64) decimal.Decimal {
	t := c.Total
	cutoff := now - c.Window
	if c.Calendar {
		if now < c.BucketEnd {
			return t
		}
		start, _ := state.CalendarBounds(time.Unix(0, now), time.Duration(c.Window), c.Loc)
		cutoff = start.UnixNano() - 1
	}
	for i := c.head; i < len(c.events) && c.events[i].At <= cutoff; i++ {
		t.Sub(&t, &c.events[i].Amount)
	}
	return t
}

// Append records a charge at now and returns the time it was recorded at:
// now, raised when needed so that events stay in order and inside the current
// window (another process's clock may run a little behind ours, and an event
// that counts a little longer never admits too much).
func (c *Counter) Append(now int64, amount *decimal.Decimal, tag Tag) int64 {
	at := max(now, c.floor)
	if n := len(c.events); n > c.head && c.events[n-1].At > at {
		at = c.events[n-1].At
	}
	c.events = append(c.events, Event{At: at, Tag: tag})
	c.events[len(c.events)-1].Amount = *amount
	c.Total.Add(&c.Total, amount)
	return at
}

// Remove takes charge idx of reservation res off the counter and returns it;
// ok is false when it is not there (never recorded, refunded already, or
// left the window).
func (c *Counter) Remove(res string, idx int) (e Event, ok bool) {
	for i := len(c.events) - 1; i >= c.head; i-- {
		if c.events[i].Idx == idx && c.events[i].Res == res {
			e = c.events[i]
			c.Total.Sub(&c.Total, &e.Amount)
			copy(c.events[i:], c.events[i+1:])
			c.events[len(c.events)-1] = Event{}
			c.events = c.events[:len(c.events)-1]
			return e, true
		}
	}
	return Event{}, false
}

// EventEnd is when an event recorded at `at` leaves the window: at+Window
// for a sliding window, the end of the window containing it for a calendar
// one.
func (c *Counter) EventEnd(at int64) int64 {
	if !c.Calendar {
		return at + c.Window
	}
	if at >= c.Bucket && at < c.BucketEnd {
		return c.BucketEnd
	}
	_, end := state.CalendarBounds(time.Unix(0, at), time.Duration(c.Window), c.Loc)
	return end.UnixNano()
}

// Expires is the time after which the counter holds nothing: when its last
// event leaves the window; 0 when empty.
func (c *Counter) Expires() int64 {
	if c.head == len(c.events) {
		return 0
	}
	return c.EventEnd(c.events[len(c.events)-1].At)
}

// Fits reports whether total + extra + amount stays within the limit.
func Fits(total, extra, amount, limit *decimal.Decimal, strict bool) bool {
	var sum decimal.Decimal
	if extra.IsZero() {
		// The usual case: no earlier charge of the call on this counter.
		sum.Add(total, amount)
	} else {
		sum.Add(total, extra)
		sum.Add(&sum, amount)
	}
	cmp := sum.Cmp(limit)
	return cmp < 0 || (cmp == 0 && !strict)
}

// RetryAfter is how long until ch (with extra already claimed on this
// counter by earlier charges of the same call) would fit if nothing else were
// admitted: when enough of the oldest events have left a sliding window, or
// at the next boundary of a calendar window. 0 when it never will.
//
// It never exceeds the window (for a calendar window, the current one's
// length): an event recorded by a process whose clock runs ahead of the
// caller's would otherwise promise a wait longer than the window itself.
func (c *Counter) RetryAfter(now int64, extra *decimal.Decimal, ch *state.Charge) time.Duration {
	var zero decimal.Decimal
	if !Fits(&zero, extra, &ch.Amount, &ch.Limit, ch.Strict) {
		return 0
	}
	if c.Calendar {
		return time.Duration(ClampRetry(c.BucketEnd-now, c.BucketEnd-c.Bucket))
	}
	left := c.Total
	for i := c.head; i < len(c.events); i++ {
		e := &c.events[i]
		left.Sub(&left, &e.Amount)
		if Fits(&left, extra, &ch.Amount, &ch.Limit, ch.Strict) {
			return time.Duration(ClampRetry(e.At+c.Window-now, c.Window))
		}
	}
	return 0
}

// ClampRetry bounds a wait to [1, window]: a wait of at least the smallest
// unit (the charge does not fit now) and at most one window.
func ClampRetry(wait, window int64) int64 {
	return max(min(wait, window), 1)
}

// Reserve checks every charge against its counter and, when all fit, appends
// them under reservation res. counters[i] serves charges[i], already advanced
// to now; the same counter may serve several charges, which then add up.
// It fills r (Totals, and Denied and RetryAfter on refusal) and reports
// whether the charges were admitted. On refusal nothing changes. When ats is
// not nil, ats[i] receives the time charge i was recorded at (see Append).
// When seq0 is not 0, charge i's event gets Seq seq0+i.
func Reserve(now int64, charges []state.Charge, counters []*Counter, res string, r *state.Result, ats []int64, seq0 int64) bool {
	var extra decimal.Decimal
	if i := fit(charges, counters, &extra); i >= 0 {
		refuse(charges, counters, i, r)
		r.RetryAfter = counters[i].RetryAfter(now, &extra, &charges[i])
		return false
	}
	for i := range charges {
		tag := Tag{Res: res, Idx: i, Keep: charges[i].KeepOnRefund}
		if seq0 != 0 {
			tag.Seq = seq0 + int64(i)
		}
		at := counters[i].Append(now, &charges[i].Amount, tag)
		if ats != nil {
			ats[i] = at
		}
	}
	admitted(charges, counters, res, r)
	return true
}

// ReserveSeries is Reserve over series, which keep no tag: ats (not nil)
// receives the time each charge was recorded at, which with its amount is
// what Series.Remove needs to refund it.
func ReserveSeries(now int64, charges []state.Charge, series []*Series, res string, r *state.Result, ats []int64) bool {
	var extra decimal.Decimal
	if i := fit(charges, series, &extra); i >= 0 {
		refuse(charges, series, i, r)
		r.RetryAfter = series[i].RetryAfter(now, &extra, &charges[i])
		return false
	}
	for i := range charges {
		ats[i] = series[i].Append(now, &charges[i].Amount)
	}
	admitted(charges, series, res, r)
	return true
}

// ReserveSeriesSeq is ReserveSeries over series with row numbers (see
// Series.AppendSeq): charge i is recorded as row seq0+i.
func ReserveSeriesSeq(now int64, charges []state.Charge, series []*Series, res string, r *state.Result, ats []int64, seq0 int64) bool {
	var extra decimal.Decimal
	if i := fit(charges, series, &extra); i >= 0 {
		refuse(charges, series, i, r)
		r.RetryAfter = series[i].RetryAfter(now, &extra, &charges[i])
		return false
	}
	for i := range charges {
		ats[i] = series[i].AppendSeq(now, &charges[i].Amount, seq0+int64(i))
	}
	admitted(charges, series, res, r)
	return true
}

// counter is what the admission check needs of a Counter or a Series.
// (RetryAfter is called by the non-generic callers: a call through a type
// parameter would make its arguments escape, an allocation per call.)
type counter interface {
	comparable
	total() *decimal.Decimal
}

func (c *Counter) total() *decimal.Decimal { return &c.Total }
func (s *Series) total() *decimal.Decimal  { return &s.Total }

// fit returns the index of the first charge that does not fit its counter
// (charges on the same counter adding up), with extra set to what earlier
// charges of the call claim on that counter; -1 when all fit.
func fit[C counter](charges []state.Charge, counters []C, extra *decimal.Decimal) int {
	for i := range charges {
		ch, c := &charges[i], counters[i]
		*extra = decimal.Decimal{}
		for j := range i {
			if counters[j] == c {
				extra.Add(extra, &charges[j].Amount)
			}
		}
		if !Fits(c.total(), extra, &ch.Amount, &ch.Limit, ch.Strict) {
			return i
		}
	}
	return -1
}

// totals sizes r.Totals for charges (reusing it when it has the right
// length) and sets each to its counter's total.
func totals[C counter](charges []state.Charge, counters []C, r *state.Result) {
	if len(r.Totals) != len(charges) {
		r.Totals = make([]decimal.Decimal, len(charges))
	}
	for i := range charges {
		r.Totals[i] = *counters[i].total()
	}
}

// refuse fills r for a refusal of charge i (all but RetryAfter).
func refuse[C counter](charges []state.Charge, counters []C, i int, r *state.Result) {
	totals(charges, counters, r)
	r.Admitted, r.Denied, r.Reservation = false, i, ""
}

// admitted fills r for an admission.
func admitted[C counter](charges []state.Charge, counters []C, res string, r *state.Result) {
	totals(charges, counters, r)
	r.Admitted, r.Reservation, r.Denied, r.RetryAfter = true, res, 0, 0
}
