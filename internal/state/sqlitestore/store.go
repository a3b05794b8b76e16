// Package sqlitestore is the embedded state.Store: one SQLite file (WAL,
// synchronous=NORMAL) that any number of Tollgate processes on one machine
// share, through modernc.org/sqlite (pure Go, no cgo).
//
// The file is an append-only log of charges and refunds (see schema). Each
// Store keeps all of it that still counts in memory — an exact mirror — and
// applies requests in batches (see queue): the caller that finds no
// transaction under way leads one itself; while requests keep queueing
// behind it, the Store's relay goroutine leads the next ones. The leader
// takes every pending Reserve, Refund and Peek, opens one BEGIN IMMEDIATE
// transaction, applies the rows other processes appended since its last
// commit (the file's data version, SQLITE_FCNTL_DATA_VERSION, says whether
// there are any), decides every request from the mirror, appends the rows
// that record the decisions in one INSERT, commits, and only then answers
// (group commit). A reservation on its own is thus three statements
// (BEGIN IMMEDIATE, INSERT, COMMIT), prepared once and run on the driver's
// connection directly (see driver.go); a Commit writes nothing. BEGIN
// IMMEDIATE takes SQLite's write lock before anything is read, so a
// check-and-append is atomic against other processes too; each Reserve stays
// all-or-nothing, and a failed transaction fails every request in it (and
// makes the next leader re-read the whole file before it trusts the mirror
// again).
//
// An answer is given after COMMIT has written the WAL: the data is then in
// the operating system's page cache, so an admitted call stays counted if the
// process is killed (kill -9) or crashes. synchronous=NORMAL does not fsync
// on commit: a power loss or kernel crash may lose the last transactions
// (never corrupt the file). That is the trade-off chosen: a commit costs a
// few system calls instead of an fsync, and a limit only needs to outlive
// Tollgate, not the machine. Checkpoints (copying the WAL into the database,
// with fsyncs) run on a second connection in the background, off the calls'
// path.
package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/procs"
	"github.com/tollgate-mcp/tollgate/internal/state"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ state.Store = (*Store)(nil)

// Options tunes a Store; the zero value is ready to use.
type Options struct {
	// BusyTimeout bounds how long one transaction waits for another
	// process's write lock before the request fails with ErrUnavailable
	// (default 5s).
	BusyTimeout time.Duration
	// OpenTimeout bounds the retries while opening a file other processes
	// are creating at the same time (default 30s).
	OpenTimeout time.Duration
}

// Store is a SQLite-backed state.Store. All methods are safe for concurrent
// use.
//
// Commit writes nothing: a reservation counts as committed unless refunded.
// It is final within the process that made the reservation (remembered in
// memory), so a later Refund of it there is ignored. A Refund of a
// reservation made by another process or before a restart is applied from
// the file (its id names its rows). Refund is idempotent either way.
type Store struct {
	db         *sql.DB
	ownsDB     bool // Open's handle, closed with the Store
	w          *writer
	closing    chan struct{} // closed by Close
	checkpoint chan struct{} // wakes the checkpointer
	ckptDone   chan struct{} // closed when the checkpointer has exited
	relay      chan struct{} // hands the leader's role to the relay (see queue)
	relayDone  chan struct{} // closed when the relay has exited
	close      sync.Once
	instance   string // prefix of this Store's reservation ids (see newRes)

	q queue

	mu      sync.Mutex
	pending map[string]pending // own reservations with refundable charges, not yet committed or refunded
}

// pending is what Refund needs of an own reservation: its refundable charges,
// and when the last of them leaves its window (after which it is forgotten).
type pending struct {
	locs    []loc
	expires int64
}

// maxBatch bounds the requests of one transaction.
const maxBatch = 512

// Open opens (creating if needed) the SQLite file at path and its parent
// directory (mode 0700). Many processes may open the same fresh file at the
// same moment: schema creation runs in an immediate transaction and busy
// errors are retried until opts.OpenTimeout. The Store owns the file's
// handle and closes it with itself.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	db, err := OpenDB(path, opts)
	if err != nil {
		return nil, err
	}
	// Two connections: the writer's and the checkpointer's.
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	s, err := New(ctx, db, opts)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlitestore: open %s: %w", path, err)
	}
	s.ownsDB = true
	return s, nil
}

// cacheKiB is the page cache of each connection (see OpenDB).
const cacheKiB = 256

// OpenDB opens the SQLite file at path (creating it and its parent
// directory, mode 0700, if needed) with the settings every connection to a
// Tollgate state file uses: WAL, synchronous=NORMAL, opts.BusyTimeout, and
// no checkpoint inside a commit (the Store's checkpointer runs them). Other
// stores may share the handle (the approvals do); its pool must then leave
// room for New's two connections beside theirs.
func OpenDB(path string, opts Options) (*sql.DB, error) {
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w: %w", path, state.ErrUnavailable, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	// SQLite's page cache, per connection. The default (2000 KiB) filled
	// up under load and cost 3.5 MB of peak RSS; the writer only appends to
	// the last page, reads the rows other processes appended since its last
	// transaction and deletes rows a window old, all near the B-tree's
	// right edge or in pages the operating system still caches. 256 KiB
	// measured no slower at 1 and 16 in flight (see docs/performance.md).
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", cacheKiB))
	// No checkpoint inside a commit: the checkpointer goroutine runs them
	// on its own connection (see checkpointEvery). A WAL grown by a burst is
	// cut back to this size once checkpointed.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", "journal_size_limit(16777216)")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open %s: %w: %w", path, state.ErrUnavailable, err)
	}
	db.SetConnMaxLifetime(0)
	return db, nil
}

// New makes a Store over db, which OpenDB opened: it creates the schema if
// needed and keeps two of db's connections (the writer's and the
// checkpointer's) until Close. Close gives them back and leaves db open for
// its owner to close.
func New(ctx context.Context, db *sql.DB, opts Options) (*Store, error) {
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 30 * time.Second
	}
	var err error
	ctx, cancel := context.WithTimeout(ctx, opts.OpenTimeout)
	defer cancel()
	var conn *sql.Conn
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		conn, err = db.Conn(ctx)
		if err == nil {
			err = migrate(ctx, conn)
			if err == nil {
				break
			}
			conn.Close()
		}
		if !isBusy(err) || ctx.Err() != nil {
			return nil, fmt.Errorf("open the counters: %w: %w", state.ErrUnavailable, err)
		}
		// Jitter keeps fifty processes started together from retrying in step.
		var b [1]byte
		rand.Read(b[:])
		time.Sleep(delay + time.Duration(b[0])*delay/256)
	}
	w, err := newWriter(conn) // closes conn if it fails
	if err != nil {
		return nil, fmt.Errorf("open the counters: %w: %w", state.ErrUnavailable, err)
	}
	ckpt, err := db.Conn(ctx)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("open the counters: %w: %w", state.ErrUnavailable, err)
	}
	var id [6]byte
	rand.Read(id[:])
	s := &Store{
		db:         db,
		w:          w,
		closing:    make(chan struct{}),
		checkpoint: make(chan struct{}, 1),
		ckptDone:   make(chan struct{}),
		relay:      make(chan struct{}, 1),
		relayDone:  make(chan struct{}),
		instance:   hex.EncodeToString(id[:]),
		pending:    make(map[string]pending),
	}
	s.q.idle.L = &s.q.mu
	w.s = s
	go s.checkpointer(ckpt)
	go s.relayLoop()
	return s, nil
}

// checkpointer copies the WAL into the database file when the writer says
// enough was written. PASSIVE never waits for, nor blocks, a writer of any
// process; a checkpoint that finds another one running just skips.
func (s *Store) checkpointer(conn *sql.Conn) {
	defer close(s.ckptDone)
	defer conn.Close()
	for {
		select {
		case <-s.closing:
			return
		case <-s.checkpoint:
			// Its fsyncs can take milliseconds: on one processor they
			// would hold every other goroutine of the process.
			procs.Blocking(func() {
				conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
			})
		}
	}
}

// forget drops own reservations whose charges all left their windows before
// dead: nothing is left to refund.
func (s *Store) forget(dead int64) {
	s.mu.Lock()
	for res, p := range s.pending {
		if p.expires <= dead {
			delete(s.pending, res)
		}
	}
	s.mu.Unlock()
}

var errClosed = fmt.Errorf("sqlitestore: closed: %w", state.ErrUnavailable)

// Reserve implements state.Store.
func (s *Store) Reserve(ctx context.Context, now time.Time, charges []state.Charge) (state.Result, error) {
	if err := state.Validate(charges); err != nil {
		return state.Result{}, fmt.Errorf("sqlitestore: reserve: %w", err)
	}
	if len(charges) == 0 {
		return state.Result{Admitted: true, Totals: []decimal.Decimal{}}, nil
	}
	r := &request{kind: kindReserve, now: now.UnixNano(), charges: charges}
	if err := s.do(ctx, r); err != nil {
		return state.Result{}, fmt.Errorf("sqlitestore: reserve: %w", err)
	}
	return r.result, nil
}

// QuickCommit implements state.QuickCommit: Commit waits on nothing.
func (s *Store) QuickCommit() {}

// Commit implements state.Store. It writes nothing: an uncommitted
// reservation already counts as committed; it only makes Refund a no-op.
func (s *Store) Commit(ctx context.Context, reservation string) error {
	s.mu.Lock()
	delete(s.pending, reservation)
	s.mu.Unlock()
	return nil
}

// Refund implements state.Store.
func (s *Store) Refund(ctx context.Context, reservation string) error {
	if reservation == "" {
		return nil
	}
	r := &request{kind: kindRefund, res: reservation}
	if strings.HasPrefix(reservation, s.instance+resSep) {
		s.mu.Lock()
		p, ok := s.pending[reservation]
		delete(s.pending, reservation)
		s.mu.Unlock()
		if !ok {
			return nil // committed, refunded, forgotten or nothing to give back
		}
		r.locs = p.locs
	} else {
		r.foreign = true
	}
	if err := s.do(ctx, r); err != nil {
		return fmt.Errorf("sqlitestore: refund %s: %w", reservation, err)
	}
	return nil
}

// Peek implements state.Store.
func (s *Store) Peek(ctx context.Context, now time.Time, key state.Key, window time.Duration, align state.Align, loc *time.Location) (decimal.Decimal, error) {
	r := &request{kind: kindPeek, now: now.UnixNano(), charges: []state.Charge{{Key: key, Window: window, Align: align, Location: loc}}}
	if err := s.do(ctx, r); err != nil {
		return decimal.Decimal{}, fmt.Errorf("sqlitestore: peek %s: %w", key, err)
	}
	return r.total, nil
}

// Close waits for the transaction under way (and the requests already
// queued behind it), then closes the file; later calls fail with
// ErrUnavailable. Close is idempotent.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() {
		s.q.shut()
		close(s.relay)
		<-s.relayDone
		close(s.closing)
		<-s.ckptDone
		s.w.close()
		if s.ownsDB {
			err = s.db.Close()
		}
	})
	return err
}
