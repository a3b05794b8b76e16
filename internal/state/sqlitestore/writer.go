package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
)

// pruneEvery is how far the callers' clock must move between two prunes of
// dead counters; pruneGrace keeps a counter that long past its expiry, for
// callers whose clock lags a little.
const (
	pruneEvery = time.Minute
	pruneGrace = time.Minute
)

// writer owns the connection and the mirror; only its goroutine touches them.
type writer struct {
	s    *Store
	conn *sql.Conn
	st   stmts

	dataVersion int64 // -1: mirror not trusted
	byName      map[string]*mirrored
	byID        map[int64]*mirrored
	latest      int64 // latest now seen: the clock pruning runs on
	pruned      int64

	// per-batch scratch
	touched []*mirrored
	ctrs    []*ledger.Counter
	ats     []int64
	idbuf   []byte
	admits  []admit
}

// mirrored is one counter as the writer knows it; exact while the mirror is
// trusted.
type mirrored struct {
	id      int64 // row id; 0 until first written
	name    string
	loc     string
	c       *ledger.Counter
	dirty   bool // row needs an UPDATE at the end of the batch
	dropped bool // events below c.Floor() need a DELETE
	inBatch bool
}

type admit struct {
	res     string
	expires int64
}

type stmts struct {
	counterByName, counterByID, insertCounter, updateCounter  *sql.Stmt
	eventsOf, insertEvent, dropEvents, eventsOfRes, deleteRes *sql.Stmt
	pruneEvents, pruneCounters                                *sql.Stmt
	begin, commit, rollback, dataVersion                      *sql.Stmt
}

func newWriter(conn *sql.Conn) (*writer, error) {
	w := &writer{conn: conn, dataVersion: -1, byName: map[string]*mirrored{}, byID: map[int64]*mirrored{}}
	ctx := context.Background()
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&w.st.counterByName, `SELECT id, window_ns, calendar, loc, bucket, bucket_end FROM counters WHERE name = ?`},
		{&w.st.counterByID, `SELECT name, window_ns, calendar, loc, bucket, bucket_end FROM counters WHERE id = ?`},
		{&w.st.insertCounter, `INSERT INTO counters (name, window_ns, calendar, loc, total, bucket, bucket_end, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`},
		{&w.st.updateCounter, `UPDATE counters SET total = ?, bucket = ?, bucket_end = ?, expires = ? WHERE id = ?`},
		{&w.st.eventsOf, `SELECT at, amount, res, idx FROM events WHERE counter = ? ORDER BY at`},
		{&w.st.insertEvent, `INSERT INTO events (res, idx, counter, at, amount, keep) VALUES (?, ?, ?, ?, ?, ?)`},
		{&w.st.dropEvents, `DELETE FROM events WHERE counter = ? AND at < ?`},
		{&w.st.eventsOfRes, `SELECT counter, idx FROM events WHERE res = ? AND keep = 0 ORDER BY idx`},
		{&w.st.deleteRes, `DELETE FROM events WHERE res = ? AND keep = 0`},
		{&w.st.pruneEvents, `DELETE FROM events WHERE counter IN (SELECT id FROM counters WHERE expires <= ?)`},
		{&w.st.pruneCounters, `DELETE FROM counters WHERE expires <= ?`},
		{&w.st.begin, `BEGIN IMMEDIATE`},
		{&w.st.commit, `COMMIT`},
		{&w.st.rollback, `ROLLBACK`},
		{&w.st.dataVersion, `PRAGMA data_version`},
	} {
		st, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			return nil, fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = st
	}
	return w, nil
}

func (w *writer) run() {
	defer close(w.s.stopped)
	defer w.conn.Close()
	batch := make([]*request, 0, maxBatch)
	for {
		select {
		case <-w.s.closing:
			return
		case r := <-w.s.reqs:
			w.s.inflight.Add(-1)
			batch = append(batch[:0], r)
			batch = w.gather(batch)
			w.apply(batch)
			clear(batch)
		}
	}
}

// gather adds queued requests to batch. Callers that have entered the store
// but not yet queued are on their way: yielding a few times lets them join
// this transaction instead of paying for one of their own, which is what
// makes group commit pay off on a busy machine.
func (w *writer) gather(batch []*request) []*request {
	for spins := 0; ; spins++ {
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-w.s.reqs:
				w.s.inflight.Add(-1)
				batch = append(batch, r)
			default:
				break drain
			}
		}
		if spins == 8 || len(batch) >= maxBatch || w.s.inflight.Load() <= 0 {
			return batch
		}
		runtime.Gosched()
	}
}

// apply runs one batch in one transaction and answers every request in it.
func (w *writer) apply(batch []*request) {
	taken := batch[:0]
	for _, r := range batch {
		if r.take() {
			taken = append(taken, r)
		}
	}
	if len(taken) == 0 {
		return
	}
	w.admits = w.admits[:0]
	err := w.transact(taken)
	if err != nil {
		w.dataVersion = -1 // the mirror may hold changes that were rolled back
		err = fmt.Errorf("%w: %w", state.ErrUnavailable, err)
	} else if len(w.admits) > 0 {
		w.s.mu.Lock()
		for _, a := range w.admits {
			w.s.pending[a.res] = a.expires
		}
		w.s.mu.Unlock()
	}
	for _, r := range taken {
		if err != nil {
			r.err = err
			r.result = state.Result{}
		}
		close(r.done)
	}
}

func (w *writer) transact(batch []*request) (err error) {
	ctx := context.Background()
	if _, err := w.st.begin.ExecContext(ctx); err != nil {
		return err
	}
	defer func() {
		for _, m := range w.touched {
			m.inBatch, m.dirty, m.dropped = false, false, false
		}
		clear(w.touched)
		w.touched = w.touched[:0]
		if err != nil {
			w.st.rollback.ExecContext(ctx)
		}
	}()
	var dv int64
	if err := w.st.dataVersion.QueryRowContext(ctx).Scan(&dv); err != nil {
		return err
	}
	if dv != w.dataVersion {
		clear(w.byName)
		clear(w.byID)
		w.dataVersion = dv
	}
	for _, r := range batch {
		w.latest = max(w.latest, r.now)
		var err error
		switch r.kind {
		case kindReserve:
			err = w.reserve(ctx, r)
		case kindRefund:
			err = w.refund(ctx, r)
		case kindPeek:
			err = w.peek(ctx, r)
		}
		if err != nil {
			return err
		}
	}
	for _, m := range w.touched {
		if m.dropped {
			if _, err := w.st.dropEvents.ExecContext(ctx, m.id, m.c.Floor()); err != nil {
				return err
			}
		}
		if m.dirty {
			if _, err := w.st.updateCounter.ExecContext(ctx, m.c.Total.String(), m.c.Bucket, m.c.BucketEnd, m.c.Expires(), m.id); err != nil {
				return err
			}
		}
	}
	if w.latest-w.pruned >= int64(pruneEvery) {
		if err := w.prune(ctx); err != nil {
			return err
		}
	}
	_, err = w.st.commit.ExecContext(ctx)
	return err
}

func (w *writer) touch(m *mirrored) {
	if !m.inBatch {
		m.inBatch = true
		w.touched = append(w.touched, m)
	}
}

func (w *writer) reserve(ctx context.Context, r *request) error {
	w.ctrs = w.ctrs[:0]
	for i := range r.charges {
		ch := &r.charges[i]
		m, err := w.counter(ctx, ch, true)
		if err != nil {
			return err
		}
		if m.c.Advance(r.now) {
			m.dropped, m.dirty = true, true
		}
		w.touch(m)
		w.ctrs = append(w.ctrs, m.c)
	}
	w.s.seq++
	res := w.s.instance + "-" + strconv.FormatUint(w.s.seq, 36)
	if cap(w.ats) < len(r.charges) {
		w.ats = make([]int64, len(r.charges))
	}
	ats := w.ats[:len(r.charges)]
	if !ledger.Reserve(r.now, r.charges, w.ctrs, res, &r.result, ats) {
		return nil
	}
	var expires int64
	refundable := false
	for i := range r.charges {
		m := w.mirrorOf(w.ctrs[i])
		if m.id == 0 {
			if err := w.st.insertCounter.QueryRowContext(ctx, m.name, m.c.Window, m.c.Calendar, m.loc, "0", m.c.Bucket, m.c.BucketEnd, 0).Scan(&m.id); err != nil {
				return err
			}
			w.byID[m.id] = m
		}
		if _, err := w.st.insertEvent.ExecContext(ctx, res, i, m.id, ats[i], r.charges[i].Amount.String(), r.charges[i].KeepOnRefund); err != nil {
			return err
		}
		m.dirty = true
		if !r.charges[i].KeepOnRefund {
			refundable = true
			expires = max(expires, m.c.Expires())
		}
	}
	if refundable {
		// Only a reservation with something to give back waits for Refund.
		w.admits = append(w.admits, admit{res: res, expires: expires})
	}
	return nil
}

// mirrorOf finds the mirrored entry for a counter of the current request
// (a handful at most, all touched).
func (w *writer) mirrorOf(c *ledger.Counter) *mirrored {
	for _, m := range w.touched {
		if m.c == c {
			return m
		}
	}
	panic("sqlitestore: counter not in batch")
}

func (w *writer) refund(ctx context.Context, r *request) error {
	rows, err := w.st.eventsOfRes.QueryContext(ctx, r.res)
	if err != nil {
		return err
	}
	type charge struct {
		counter int64
		idx     int
	}
	var refunded []charge
	for rows.Next() {
		var c charge
		if err := rows.Scan(&c.counter, &c.idx); err != nil {
			rows.Close()
			return err
		}
		refunded = append(refunded, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(refunded) == 0 {
		return nil
	}
	for _, c := range refunded {
		m, err := w.counterByID(ctx, c.counter)
		if err != nil {
			return err
		}
		if m != nil && m.c.Remove(r.res, c.idx) {
			m.dirty = true
			w.touch(m)
		}
	}
	_, err = w.st.deleteRes.ExecContext(ctx, r.res)
	return err
}

func (w *writer) peek(ctx context.Context, r *request) error {
	m, err := w.counter(ctx, &r.charges[0], false)
	if err != nil || m == nil {
		return err
	}
	r.total = m.c.TotalAt(r.now)
	return nil
}

// counter returns the mirrored counter for ch, loading it from the database
// when the mirror does not hold it; a counter with no row is created in the
// mirror when create is set (its row is written with its first event) and
// reported as nil otherwise.
func (w *writer) counter(ctx context.Context, ch *state.Charge, create bool) (*mirrored, error) {
	w.idbuf = ledger.AppendID(w.idbuf[:0], ch)
	if m := w.byName[string(w.idbuf)]; m != nil {
		return m, nil
	}
	name := string(w.idbuf)
	var (
		id, window, bucket, bucketEnd int64
		calendar                      bool
		loc                           string
	)
	err := w.st.counterByName.QueryRowContext(ctx, name).Scan(&id, &window, &calendar, &loc, &bucket, &bucketEnd)
	switch {
	case err == sql.ErrNoRows:
		if !create {
			return nil, nil
		}
		m := &mirrored{name: name, c: ledger.New(ch), loc: locName(ch.Location)}
		w.byName[name] = m
		return m, nil
	case err != nil:
		return nil, err
	}
	m := &mirrored{id: id, name: name, loc: loc, c: ledger.New(ch)}
	if err := w.load(ctx, m, bucket, bucketEnd); err != nil {
		return nil, err
	}
	return m, nil
}

func (w *writer) counterByID(ctx context.Context, id int64) (*mirrored, error) {
	if m := w.byID[id]; m != nil {
		return m, nil
	}
	var (
		name, loc                 string
		window, bucket, bucketEnd int64
		calendar                  bool
	)
	err := w.st.counterByID.QueryRowContext(ctx, id).Scan(&name, &window, &calendar, &loc, &bucket, &bucketEnd)
	switch {
	case err == sql.ErrNoRows:
		return nil, nil
	case err != nil:
		return nil, err
	}
	ch := state.Charge{Window: time.Duration(window)}
	if calendar {
		l, err := time.LoadLocation(loc)
		if err != nil {
			return nil, fmt.Errorf("counter %s: %w", name, err)
		}
		ch.Align, ch.Location = state.Calendar, l
	}
	m := &mirrored{id: id, name: name, loc: loc, c: ledger.New(&ch)}
	if err := w.load(ctx, m, bucket, bucketEnd); err != nil {
		return nil, err
	}
	return m, nil
}

// load fills m's events from the database and enters it in the mirror.
func (w *writer) load(ctx context.Context, m *mirrored, bucket, bucketEnd int64) error {
	if m.c.Calendar {
		m.c.SetBucket(bucket, bucketEnd)
	}
	rows, err := w.st.eventsOf.QueryContext(ctx, m.id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e ledger.Event
		var amount string
		if err := rows.Scan(&e.At, &amount, &e.Res, &e.Idx); err != nil {
			return err
		}
		if _, _, err := e.Amount.SetString(amount); err != nil {
			return fmt.Errorf("counter %s: amount %q: %w", m.name, amount, err)
		}
		m.c.Load(e)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	w.byName[m.name] = m
	w.byID[m.id] = m
	return nil
}

// prune deletes counters (and their events) that have held nothing for
// pruneGrace, in the database and the mirror alike, and forgets own
// reservations that can no longer matter.
func (w *writer) prune(ctx context.Context) error {
	w.pruned = w.latest
	dead := w.latest - int64(pruneGrace)
	if _, err := w.st.pruneEvents.ExecContext(ctx, dead); err != nil {
		return err
	}
	if _, err := w.st.pruneCounters.ExecContext(ctx, dead); err != nil {
		return err
	}
	for name, m := range w.byName {
		if m.c.Expires() <= dead {
			delete(w.byName, name)
			delete(w.byID, m.id)
		}
	}
	w.s.mu.Lock()
	for res, exp := range w.s.pending {
		if exp <= dead {
			delete(w.s.pending, res)
		}
	}
	w.s.mu.Unlock()
	return nil
}

func locName(loc *time.Location) string {
	if loc == nil {
		return "UTC"
	}
	return loc.String()
}
