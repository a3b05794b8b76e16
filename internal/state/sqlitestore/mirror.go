package sqlitestore

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
)

// deadGrace is how long a row whose charge has left its window stays in the
// file, for a process whose callers' clock lags ours a little.
const deadGrace = time.Second

// mirror is every counter in the file as of seq lastSeq, in memory: the
// writer admits from it and brings it up to date from the rows other
// processes appended before each transaction. Only the writer touches it.
//
// A counter keeps, of each charge row, only what its total and the file's
// upkeep need: when it was recorded, its amount and its row number (see
// ledger.Series: about 8 bytes a charge, where a tagged ledger.Counter
// event kept about 100). A refund row names its charge by reservation and
// index; the row number follows from them (see resSeq), and the file gives
// the rest for the rare refund of a reservation this Store did not make.
type mirror struct {
	counters map[string]*counter
	lastSeq  int64 // highest seq applied; the file holds no higher one

	// dead holds rows to delete, in the order they became due.
	dead []deadRow
	// refunds are refund rows, deleted once the charge they refund would
	// have left its window.
	refunds []deadRow

	locs   map[string]*time.Location
	dropFn func(seq int64)
	// clock is the latest time any caller gave: it only moves forward, so
	// dead stays in due order.
	clock int64
}

// counter is one counter of the mirror and its name in the file.
type counter struct {
	ledger.Series
	name string
}

// deadRow is a row that may be deleted from due on (for a refund row: once
// the charge it refunds would have left its window).
type deadRow struct {
	seq, due int64
}

func newMirror() *mirror {
	m := &mirror{counters: map[string]*counter{}, locs: map[string]*time.Location{}}
	m.dropFn = m.kill
	return m
}

// reset forgets everything, so that the next sync reads the whole file.
func (m *mirror) reset() {
	clear(m.counters)
	m.lastSeq = 0
	m.dead, m.refunds = m.dead[:0], m.refunds[:0]
}

// advance moves c to now, queueing the rows of the charges that left.
func (m *mirror) advance(c *counter, now int64) {
	c.AdvanceSeq(now, m.dropFn)
}

// kill queues row seq for deletion.
func (m *mirror) kill(seq int64) {
	m.dead = append(m.dead, deadRow{seq, m.clock + int64(deadGrace)})
}

// named returns the counter called name, creating it from the shape its name
// spells out.
func (m *mirror) named(name string) (*counter, error) {
	if c := m.counters[name]; c != nil {
		return c, nil
	}
	window, calendar, locName, err := ledger.ParseID(name)
	if err != nil {
		return nil, err
	}
	c := &counter{name: name}
	c.Window, c.Calendar = int64(window), calendar
	if calendar {
		loc := m.locs[locName]
		if loc == nil {
			if loc, err = time.LoadLocation(locName); err != nil {
				return nil, fmt.Errorf("counter %q: %w", name, err)
			}
			m.locs[locName] = loc
		}
		c.Loc = loc
	}
	m.counters[name] = c
	return c, nil
}

// applyCharge adds a charge row (own or another process's) to the mirror.
func (m *mirror) applyCharge(seq int64, name string, at int64, amount *decimal.Decimal) error {
	c := m.counters[name]
	if c == nil {
		var err error
		if c, err = m.named(name); err != nil {
			return err
		}
	}
	c.LoadSeq(at, amount, seq)
	m.lastSeq = max(m.lastSeq, seq)
	return nil
}

// applyRefund applies refund row seq, of charge row charge: the charge
// leaves its counter (if still there), and both rows become deletable.
func (m *mirror) applyRefund(seq int64, name string, at int64, charge int64) error {
	c := m.counters[name]
	if c == nil {
		var err error
		if c, err = m.named(name); err != nil {
			return err
		}
	}
	if charge > 0 {
		m.remove(c, charge)
	}
	m.refundRow(c, seq, at)
	m.lastSeq = max(m.lastSeq, seq)
	return nil
}

// remove takes charge row seq off c and queues the deletion of its row.
func (m *mirror) remove(c *counter, seq int64) (at int64, ok bool) {
	at, ok = c.RemoveSeq(seq)
	if ok {
		m.kill(seq)
	}
	return at, ok
}

// refundRow remembers refund row seq, of a charge of c recorded at `at`, to
// delete once that charge would have left its window.
func (m *mirror) refundRow(c *counter, seq, at int64) {
	m.refunds = append(m.refunds, deadRow{seq, c.EventEnd(at)})
}

// prune drops counters that hold nothing and queues refund rows past their
// charge's window.
func (m *mirror) prune() {
	for name, c := range m.counters {
		m.advance(c, m.clock)
		if c.Expires() == 0 {
			delete(m.counters, name)
		}
	}
	m.promoteRefunds()
}

// promoteRefunds queues the refund rows whose charge has left its window.
func (m *mirror) promoteRefunds() {
	kept := m.refunds[:0]
	for _, r := range m.refunds {
		if r.due <= m.clock {
			m.kill(r.seq)
		} else {
			kept = append(kept, r)
		}
	}
	clear(m.refunds[len(kept):])
	m.refunds = kept
}

// countDue reports how many queued rows are due.
func (m *mirror) countDue() int {
	n := 0
	for n < len(m.dead) && m.dead[n].due <= m.clock {
		n++
	}
	return n
}

// takeDue appends the rows due for deletion to seqs and takes them off the
// queue; the row with the highest seq stays queued until a later one exists.
func (m *mirror) takeDue(seqs []int64) []int64 {
	n := m.countDue()
	var held []deadRow
	for _, d := range m.dead[:n] {
		if d.seq < m.lastSeq {
			seqs = append(seqs, d.seq)
		} else {
			held = append(held, d)
		}
	}
	// Move what stays to the front, so that the queue reuses its array
	// instead of growing a new one as its head advances.
	k := copy(m.dead, held)
	k += copy(m.dead[k:], m.dead[n:])
	clear(m.dead[k:])
	m.dead = m.dead[:k]
	return seqs
}

// resSep separates the Store's instance from the row number of the
// reservation's first charge in a reservation id: charge idx of reservation
// "<instance>.<base 36 seq>" is row seq+idx. Ids from before (with a "-")
// carry no row number.
const resSep = "."

// newRes is the id of a reservation whose first charge is row seq0.
func newRes(instance string, seq0 int64) string {
	var b [40]byte
	return string(strconv.AppendInt(append(append(b[:0], instance...), resSep...), seq0, 36))
}

// resSeq is the row of charge idx of reservation res; false for an id that
// does not say (written by an older version).
func resSeq(res string, idx int) (int64, bool) {
	i := strings.LastIndex(res, resSep)
	if i < 0 {
		return 0, false
	}
	seq0, err := strconv.ParseInt(res[i+len(resSep):], 36, 64)
	if err != nil || seq0 <= 0 {
		return 0, false
	}
	return seq0 + int64(idx), true
}

// loc names one charge of a reservation: its counter, index and row.
type loc struct {
	name string
	idx  int
	seq  int64
}
