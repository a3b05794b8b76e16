package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
)

const (
	// pruneEvery is how far the callers' clock must move between two passes
	// over every counter (dropping empty ones, deleting their dead rows);
	// pendingGrace keeps an own reservation refundable that long past the
	// end of its charges' windows, for callers whose clock lags a little.
	pruneEvery   = time.Minute
	pendingGrace = time.Minute
	// deleteBatch is how many dead rows wait before they are deleted (in
	// the next transaction, in one statement).
	deleteBatch = 256
	// maxRows bounds the rows of one INSERT statement.
	maxRows = 64
	// checkpointEvery is how many writing transactions pass between two
	// wake-ups of the checkpointer.
	checkpointEvery = 1000
)

// writer owns the connection and the mirror; only the leader of the moment
// (see queue) touches them.
type writer struct {
	s       *Store
	conn    *sql.Conn
	dc      rawConn // conn's driver connection, only while inside conn.Raw
	st      stmts
	inserts [maxRows + 1]rawStmt // INSERT of n rows, prepared on first use

	// txFn is w.txRaw, made once; batch and wrote are its argument and
	// result.
	txFn  func(any) error
	batch []*request
	wrote bool

	m           *mirror
	dataVersion uint32 // the file's data version after our last commit
	trusted     bool   // the mirror holds the file as of dataVersion
	pruned      int64  // mirror clock at the last prune pass
	writes      int    // writing transactions since the checkpointer was woken
	batches     int    // batches applied (transactions, tried or not), for the tests

	// per-batch scratch
	rows   []row
	args   []driver.NamedValue
	dest   [7]driver.Value
	seqs   []int64
	ctrs   []*ledger.Series
	mctrs  []*counter
	ats    []int64
	idbuf  []byte
	admits []admit
	// refunds of reservations whose ids do not give their rows (see
	// resSeq), resolved once sync has read every new row
	lookups []lookup
	locs    []loc
}

// lookup is a refund row whose charge's row the file must say.
type lookup struct {
	seq, at int64
	name    string
	res     string
	idx     int
}

// row is one entries row to insert: a charge, or a refund when amount is "".
type row struct {
	seq    int64
	name   string
	at     int64
	res    string
	idx    int
	amount string
	keep   bool
}

// admit is an own reservation with refundable charges, for Store.pending.
type admit struct {
	res string
	p   pending
}

type stmts struct {
	begin, commit, rollback, since, deleteRows rawStmt
	// resFrom reads the rows from a reservation's first charge on (a
	// refund of a reservation another Store made)
	resFrom rawStmt
}

func newWriter(conn *sql.Conn) (*writer, error) {
	w := &writer{conn: conn, m: newMirror()}
	w.txFn = w.txRaw
	ctx := context.Background()
	err := conn.Raw(func(dc any) error {
		c, err := asRaw(dc)
		if err != nil {
			return err
		}
		for _, p := range []struct {
			dst *rawStmt
			sql string
		}{
			{&w.st.begin, `BEGIN IMMEDIATE`},
			{&w.st.commit, `COMMIT`},
			{&w.st.rollback, `ROLLBACK`},
			{&w.st.since, `SELECT seq, name, at, res, idx, amount, keep FROM entries WHERE seq > ? ORDER BY seq`},
			{&w.st.deleteRows, `DELETE FROM entries WHERE seq IN (SELECT value FROM json_each(?))`},
			{&w.st.resFrom, `SELECT seq, name, res, idx, keep, amount IS NULL FROM entries WHERE seq >= ? ORDER BY seq`},
		} {
			if *p.dst, err = prepareRaw(ctx, c, p.sql); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

// close closes the writer's statements and gives its connection back.
func (w *writer) close() {
	w.conn.Raw(func(any) error {
		for _, st := range []rawStmt{w.st.begin, w.st.commit, w.st.rollback, w.st.since, w.st.deleteRows, w.st.resFrom} {
			if st != nil {
				st.Close()
			}
		}
		for _, st := range w.inserts {
			if st != nil {
				st.Close()
			}
		}
		return nil
	})
	w.conn.Close()
}

// apply runs one batch in one transaction and answers every request in it.
// The leader (see queue) calls it; the requests are already claimed.
func (w *writer) apply(taken []*request) {
	w.admits = w.admits[:0]
	w.batches++
	w.batch = taken
	err := w.conn.Raw(w.txFn)
	w.batch = nil
	if err != nil {
		err = fmt.Errorf("%w: %w", state.ErrUnavailable, err)
	} else if len(w.admits) > 0 {
		w.s.mu.Lock()
		for _, a := range w.admits {
			w.s.pending[a.res] = a.p
		}
		w.s.mu.Unlock()
	}
	clear(w.admits)
	for _, r := range taken {
		if err != nil {
			r.err = err
			r.result = state.Result{}
		}
		if r.sig != nil { // nil for the leader's own: no one waits for it
			r.sig <- struct{}{}
		}
	}
	if err == nil && w.wrote {
		if w.writes++; w.writes >= checkpointEvery {
			w.writes = 0
			select {
			case w.s.checkpoint <- struct{}{}:
			default:
			}
		}
	}
}

// txRaw runs w.batch in one transaction on the driver's connection dc.
func (w *writer) txRaw(dc any) (err error) {
	if w.dc, err = asRaw(dc); err != nil {
		return err
	}
	w.wrote, err = w.transact(w.batch)
	w.dc = nil
	return err
}

// transact runs batch in one transaction: bring the mirror up to date with
// what other processes wrote, decide every request from it, append the rows
// that record the decisions, delete rows that are due. It reports whether it
// wrote anything.
func (w *writer) transact(batch []*request) (wrote bool, err error) {
	ctx := context.Background()
	if err := execRaw(ctx, w.st.begin, nil); err != nil {
		return false, err
	}
	defer func() {
		clear(w.rows)
		w.rows = w.rows[:0]
		if err != nil {
			// The mirror may hold decisions that were rolled back.
			w.trusted = false
			execRaw(ctx, w.st.rollback, nil)
		}
	}()
	for _, r := range batch {
		w.m.clock = max(w.m.clock, r.now)
	}
	// BEGIN IMMEDIATE holds the write lock: the data version now says
	// whether anyone else committed since our last commit.
	dv, err := w.dc.FileControlDataVersion("main")
	if err != nil {
		return false, err
	}
	if !w.trusted || dv != w.dataVersion {
		full := !w.trusted
		if full {
			w.m.reset()
		}
		if err := w.sync(ctx); err != nil {
			return false, err
		}
		if full {
			w.m.prune()
			w.pruned = w.m.clock
		}
		w.trusted = true
	}
	for _, r := range batch {
		var err error
		switch r.kind {
		case kindReserve:
			err = w.reserve(r)
		case kindRefund:
			err = w.refund(ctx, r)
		case kindPeek:
			w.peek(r)
		}
		if err != nil {
			return false, err
		}
	}
	tick := w.m.clock-w.pruned >= int64(pruneEvery)
	if tick {
		w.pruned = w.m.clock
		w.m.prune()
		w.s.forget(w.m.clock - int64(pendingGrace))
	}
	if err := w.insert(ctx); err != nil {
		return false, err
	}
	wrote = len(w.rows) > 0
	if n := w.m.countDue(); n >= deleteBatch || (tick && n > 0) {
		w.m.promoteRefunds()
		w.seqs = w.m.takeDue(w.seqs[:0])
		if len(w.seqs) > 0 {
			w.args = ordinal(w.args[:0], seqList(w.seqs))
			err := execRaw(ctx, w.st.deleteRows, w.args)
			clear(w.args)
			if err != nil {
				return false, err
			}
			wrote = true
		}
	}
	if err := execRaw(ctx, w.st.commit, nil); err != nil {
		return false, err
	}
	// Our own commit moved the data version: what it says now is the file
	// as the mirror holds it.
	if w.dataVersion, err = w.dc.FileControlDataVersion("main"); err != nil {
		// Committed, but the next transaction must not trust the mirror.
		w.trusted = false
		return wrote, nil
	}
	return wrote, nil
}

// sync applies the rows other processes appended since the mirror's last
// seq (every row, after a reset).
func (w *writer) sync(ctx context.Context) error {
	if err := w.syncRows(ctx); err != nil {
		return err
	}
	// Refund rows of reservations made by an older version (during an
	// upgrade): their charge's row is found by its reservation and index.
	if len(w.lookups) > 0 {
		st, err := prepareRaw(ctx, w.dc, `SELECT seq FROM entries WHERE res = ? AND idx = ? AND name = ? AND amount IS NOT NULL`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, l := range w.lookups {
			// Zero if its row is gone, and so is the charge from the
			// mirror: it left its window (or this is a second refund of it).
			var seq int64
			w.args = ordinal(w.args[:0], l.res, int64(l.idx), l.name)
			err := queryRaw(ctx, st, w.args, w.dest[:1], func(dest []driver.Value) (bool, error) {
				var err error
				seq, err = colInt(dest[0])
				return false, err
			})
			clear(w.args)
			if err != nil {
				return err
			}
			if err := w.m.applyRefund(l.seq, l.name, l.at, seq); err != nil {
				return err
			}
		}
	}
	clear(w.lookups)
	w.lookups = w.lookups[:0]
	return nil
}

func (w *writer) syncRows(ctx context.Context) error {
	var d decimal.Decimal
	w.args = ordinal(w.args[:0], w.m.lastSeq)
	defer clear(w.args)
	return queryRaw(ctx, w.st.since, w.args, w.dest[:7], func(dest []driver.Value) (bool, error) {
		c := cols{dest: dest}
		seq, name, at, res, idx := c.int(0), c.text(1), c.int(2), c.text(3), c.int(4)
		if c.err != nil {
			return false, c.err
		}
		var err error
		if dest[5] == nil {
			if charge, ok := resSeq(res, int(idx)); ok {
				err = w.m.applyRefund(seq, name, at, charge)
			} else {
				w.lookups = append(w.lookups, lookup{seq: seq, at: at, name: name, res: res, idx: int(idx)})
				w.m.lastSeq = max(w.m.lastSeq, seq)
			}
		} else {
			amount := c.text(5)
			if c.err != nil {
				return false, c.err
			}
			var err error
			if d, err = decimal.Parse(amount); err != nil {
				return false, fmt.Errorf("entry %d: amount %q: %w", seq, amount, err)
			}
			if err := w.m.applyCharge(seq, name, at, &d); err != nil {
				return false, err
			}
		}
		return err == nil, err
	})
}

func (w *writer) reserve(r *request) error {
	w.ctrs, w.mctrs = w.ctrs[:0], w.mctrs[:0]
	for i := range r.charges {
		ch := &r.charges[i]
		w.idbuf = ledger.AppendID(w.idbuf[:0], ch)
		c := w.m.counters[string(w.idbuf)]
		if c == nil {
			c = &counter{name: string(w.idbuf)}
			c.Calendar, c.Window, c.Loc = ch.Align == state.Calendar, int64(ch.Window), ch.Location
			w.m.counters[c.name] = c
		}
		w.m.advance(c, r.now)
		w.ctrs = append(w.ctrs, &c.Series)
		w.mctrs = append(w.mctrs, c)
	}
	seq0 := w.m.lastSeq + 1
	res := newRes(w.s.instance, seq0)
	if cap(w.ats) < len(r.charges) {
		w.ats = make([]int64, len(r.charges))
	}
	ats := w.ats[:len(r.charges)]
	if !ledger.ReserveSeriesSeq(r.now, r.charges, w.ctrs, res, &r.result, ats, seq0) {
		return nil
	}
	w.m.lastSeq += int64(len(r.charges))
	var p pending
	for i := range r.charges {
		ch, c := &r.charges[i], w.mctrs[i]
		w.rows = append(w.rows, row{seq: seq0 + int64(i), name: c.name, at: ats[i], res: res, idx: i, amount: ch.Amount.String(), keep: ch.KeepOnRefund})
		if !ch.KeepOnRefund {
			p.locs = append(p.locs, loc{name: c.name, idx: i, seq: seq0 + int64(i)})
			p.expires = max(p.expires, c.EventEnd(ats[i]))
		}
	}
	if p.locs != nil {
		// Only a reservation with something to give back waits for Refund.
		w.admits = append(w.admits, admit{res: res, p: p})
	}
	return nil
}

// refund gives back the refundable charges of r.res still counted, writing
// one refund row for each.
func (w *writer) refund(ctx context.Context, r *request) error {
	locs := r.locs
	if r.foreign {
		var err error
		if locs, err = w.findRes(ctx, r.res); err != nil {
			return err
		}
	}
	for _, l := range locs {
		c := w.m.counters[l.name]
		if c == nil {
			continue
		}
		at, ok := w.m.remove(c, l.seq)
		if !ok {
			continue // left the window, or refunded by another process
		}
		w.m.lastSeq++
		seq := w.m.lastSeq
		w.m.refundRow(c, seq, at)
		w.rows = append(w.rows, row{seq: seq, name: c.name, at: at, res: r.res, idx: l.idx})
	}
	return nil
}

// findRes returns the refundable charges of reservation res that the file
// still holds (those already refunded are no longer in the mirror). A refund
// of a reservation this Store did not make (another process's, or one made
// before a restart) is rare; the mirror keeps no index of reservations for
// it. The charges of one reservation are consecutive rows from the one its
// id names, so reading from there to the first row of another reservation
// finds them all; an id from an older version names no row, and the whole
// file is read.
func (w *writer) findRes(ctx context.Context, res string) ([]loc, error) {
	st := w.st.resFrom
	seq0, ok := resSeq(res, 0)
	if ok {
		w.args = ordinal(w.args[:0], seq0)
	} else {
		var err error
		if st, err = prepareRaw(ctx, w.dc, `SELECT seq, name, res, idx, keep, amount IS NULL FROM entries WHERE res = ? ORDER BY seq`); err != nil {
			return nil, err
		}
		defer st.Close()
		w.args = ordinal(w.args[:0], res)
	}
	defer clear(w.args)
	out := w.locs[:0]
	err := queryRaw(ctx, st, w.args, w.dest[:6], func(dest []driver.Value) (bool, error) {
		c := cols{dest: dest}
		seq, name, rowRes, idx, keep, refund := c.int(0), c.text(1), c.text(2), c.int(3), c.int(4), c.int(5)
		switch {
		case c.err != nil || rowRes != res:
			return false, c.err
		case refund != 0 || keep != 0:
			return true, nil
		}
		if ctr := w.m.counters[name]; ctr != nil {
			out = append(out, loc{name: ctr.name, idx: int(idx), seq: seq})
		}
		return true, nil
	})
	w.locs = out[:0]
	return out, err
}

func (w *writer) peek(r *request) {
	w.idbuf = ledger.AppendID(w.idbuf[:0], &r.charges[0])
	if c := w.m.counters[string(w.idbuf)]; c != nil {
		r.total = c.TotalAt(r.now)
	}
}

// insert appends w.rows to entries, maxRows per statement.
func (w *writer) insert(ctx context.Context) error {
	for rows := w.rows; len(rows) > 0; {
		n := min(len(rows), maxRows)
		st := w.inserts[n]
		if st == nil {
			var err error
			q := "INSERT INTO entries (seq, name, at, res, idx, amount, keep) VALUES " +
				strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?), ", n), ", ")
			if st, err = prepareRaw(ctx, w.dc, q); err != nil {
				return err
			}
			w.inserts[n] = st
		}
		args := w.args[:0]
		for i := range rows[:n] {
			r := &rows[i]
			var amount driver.Value
			if r.amount != "" {
				amount = r.amount
			}
			args = ordinal(args, r.seq, r.name, r.at, r.res, int64(r.idx), amount, r.keep)
			for j := len(args) - 7; j < len(args); j++ {
				args[j].Ordinal += 7 * i
			}
		}
		w.args = args
		err := execRaw(ctx, st, args)
		clear(args)
		if err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// seqList renders seqs as a JSON array, for json_each.
func seqList(seqs []int64) string {
	b := make([]byte, 0, 12*len(seqs)+2)
	b = append(b, '[')
	for i, s := range seqs {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, s, 10)
	}
	return string(append(b, ']'))
}
