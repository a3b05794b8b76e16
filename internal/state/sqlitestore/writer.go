package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/apd/v3"
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
	st      stmts
	inserts [maxRows + 1]*sql.Stmt // INSERT of n rows, prepared on first use

	m           *mirror
	dataVersion int64
	trusted     bool  // the mirror holds the file as of dataVersion
	pruned      int64 // mirror clock at the last prune pass
	writes      int   // writing transactions since the checkpointer was woken

	// per-batch scratch
	rows   []row
	args   []any
	seqs   []int64
	ctrs   []*ledger.Series
	mctrs  []*counter
	ats    []int64
	idbuf  []byte
	admits []admit
	// refunds of reservations whose ids do not give their rows (see
	// resSeq), resolved once sync has read every new row
	lookups []lookup
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
	begin, commit, rollback, dataVersion, since, deleteRows *sql.Stmt
	// resFrom reads the rows from a reservation's first charge on (a
	// refund of a reservation another Store made)
	resFrom *sql.Stmt
}

func newWriter(conn *sql.Conn) (*writer, error) {
	w := &writer{conn: conn, m: newMirror()}
	ctx := context.Background()
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&w.st.begin, `BEGIN IMMEDIATE`},
		{&w.st.commit, `COMMIT`},
		{&w.st.rollback, `ROLLBACK`},
		{&w.st.dataVersion, `PRAGMA data_version`},
		{&w.st.since, `SELECT seq, name, at, res, idx, amount, keep FROM entries WHERE seq > ? ORDER BY seq`},
		{&w.st.deleteRows, `DELETE FROM entries WHERE seq IN (SELECT value FROM json_each(?))`},
		{&w.st.resFrom, `SELECT seq, name, res, idx, keep, amount IS NULL FROM entries WHERE seq >= ? ORDER BY seq`},
	} {
		st, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = st
	}
	return w, nil
}

// apply runs one batch in one transaction and answers every request in it.
// The leader (see queue) calls it; the requests are already claimed.
func (w *writer) apply(taken []*request) {
	w.admits = w.admits[:0]
	wrote, err := w.transact(taken)
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
			r.sig <- answered
		}
	}
	if wrote {
		if w.writes++; w.writes >= checkpointEvery {
			w.writes = 0
			select {
			case w.s.checkpoint <- struct{}{}:
			default:
			}
		}
	}
}

// transact runs batch in one transaction: bring the mirror up to date with
// what other processes wrote, decide every request from it, append the rows
// that record the decisions, delete rows that are due. It reports whether it
// wrote anything.
func (w *writer) transact(batch []*request) (wrote bool, err error) {
	ctx := context.Background()
	if _, err := w.st.begin.ExecContext(ctx); err != nil {
		return false, err
	}
	defer func() {
		clear(w.rows)
		w.rows = w.rows[:0]
		if err != nil {
			// The mirror may hold decisions that were rolled back.
			w.trusted = false
			w.st.rollback.ExecContext(ctx)
		}
	}()
	for _, r := range batch {
		w.m.clock = max(w.m.clock, r.now)
	}
	var dv int64
	if err := w.st.dataVersion.QueryRowContext(ctx).Scan(&dv); err != nil {
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
		w.dataVersion, w.trusted = dv, true
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
			if _, err := w.st.deleteRows.ExecContext(ctx, seqList(w.seqs)); err != nil {
				return false, err
			}
			wrote = true
		}
	}
	_, err = w.st.commit.ExecContext(ctx)
	return wrote, err
}

// sync applies the rows other processes appended since the mirror's last
// seq (every row, after a reset).
func (w *writer) sync(ctx context.Context) error {
	if err := w.syncRows(ctx); err != nil {
		return err
	}
	// Refund rows of reservations made by an older version (during an
	// upgrade): their charge's row is found by its reservation and index.
	for _, l := range w.lookups {
		var seq int64
		err := w.conn.QueryRowContext(ctx, `SELECT seq FROM entries WHERE res = ? AND idx = ? AND name = ? AND amount IS NOT NULL`, l.res, l.idx, l.name).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			// Its row is gone, and so is the charge from the mirror: it left
			// its window (or this is a second refund of it).
			seq = 0
		} else if err != nil {
			return err
		}
		if err := w.m.applyRefund(l.seq, []byte(l.name), l.at, seq); err != nil {
			return err
		}
	}
	clear(w.lookups)
	w.lookups = w.lookups[:0]
	return nil
}

func (w *writer) syncRows(ctx context.Context) error {
	rows, err := w.st.since.QueryContext(ctx, w.m.lastSeq)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		seq, at      int64
		name, amount sql.RawBytes
		res          string
		idx          int
		keep         bool
		d            apd.Decimal
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &name, &at, &res, &idx, &amount, &keep); err != nil {
			return err
		}
		if amount == nil {
			if charge, ok := resSeq(res, idx); ok {
				err = w.m.applyRefund(seq, name, at, charge)
			} else {
				w.lookups = append(w.lookups, lookup{seq: seq, at: at, name: string(name), res: res, idx: idx})
				w.m.lastSeq = max(w.m.lastSeq, seq)
			}
		} else if _, _, err = d.SetString(string(amount)); err != nil {
			err = fmt.Errorf("entry %d: amount %q: %w", seq, amount, err)
		} else {
			err = w.m.applyCharge(seq, name, at, &d)
		}
		if err != nil {
			return err
		}
	}
	return rows.Err()
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
	var rows *sql.Rows
	var err error
	seq0, ok := resSeq(res, 0)
	if ok {
		rows, err = w.st.resFrom.QueryContext(ctx, seq0)
	} else {
		rows, err = w.conn.QueryContext(ctx, `SELECT seq, name, res, idx, keep, amount IS NULL FROM entries WHERE res = ? ORDER BY seq`, res)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		out          []loc
		seq          int64
		name, rowRes string
		idx          int
		keep, refund bool
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &name, &rowRes, &idx, &keep, &refund); err != nil {
			return nil, err
		}
		if rowRes != res {
			break
		}
		if refund || keep {
			continue
		}
		if c := w.m.counters[name]; c != nil {
			out = append(out, loc{name: c.name, idx: idx, seq: seq})
		}
	}
	return out, rows.Err()
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
			if st, err = w.conn.PrepareContext(ctx, q); err != nil {
				return err
			}
			w.inserts[n] = st
		}
		args := w.args[:0]
		for i := range rows[:n] {
			r := &rows[i]
			var amount any
			if r.amount != "" {
				amount = r.amount
			}
			args = append(args, r.seq, r.name, r.at, r.res, r.idx, amount, r.keep)
		}
		w.args = args
		_, err := st.ExecContext(ctx, args...)
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
