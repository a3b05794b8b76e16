// Package backend opens what a --state spec names — one SQLite file, one
// Redis, or this process's memory — once, and makes from that one handle
// every store Tollgate keeps there: the counters (state.Store), the
// approvals (approval.Store), the pins (*pins.Store) and the gate's call
// records (calls.Store). One SQLite file gets one *sql.DB (one set of
// pragmas, one pool); one Redis gets one client (one pool, one set of
// timeouts). It lives above package state and package approval, which
// know nothing of each other, because it imports the backends of all.
package backend

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	aprmem "github.com/tollgate-mcp/tollgate/internal/approval/memstore"
	aprredis "github.com/tollgate-mcp/tollgate/internal/approval/redisstore"
	aprsqlite "github.com/tollgate-mcp/tollgate/internal/approval/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/calls"
	callmem "github.com/tollgate-mcp/tollgate/internal/calls/memstore"
	callredis "github.com/tollgate-mcp/tollgate/internal/calls/redisstore"
	callsqlite "github.com/tollgate-mcp/tollgate/internal/calls/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/pins"
	pinmem "github.com/tollgate-mcp/tollgate/internal/pins/memstore"
	pinredis "github.com/tollgate-mcp/tollgate/internal/pins/redisstore"
	pinsqlite "github.com/tollgate-mcp/tollgate/internal/pins/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/redact"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/state/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/stateopen"
)

// Options complete a spec.
type Options struct {
	// StateDir holds the default SQLite file; empty means state.DefaultDir().
	StateDir string
	// Prefix is the Redis key prefix (redisstore.DefaultPrefix if empty),
	// the counters' and the approvals' alike.
	Prefix string
}

// sqliteConns is the SQLite pool's size: the counters keep two connections
// (their writer's and their checkpointer's) for as long as they are open,
// and the approvals, the pins and the call records take one per
// transaction or statement. A third caller waits for a connection instead
// of opening a fourth.
const sqliteConns = 3

// Backend is one opened --state spec. Counters, Approvals, Pins and Calls
// make their store on first call and return the same one after; Close
// closes them and then the handle. All methods are safe for concurrent use.
type Backend struct {
	spec string // redacted, for errors

	// Exactly one of these is set, or neither for memory.
	db     *sql.DB
	rdb    *redis.Client
	prefix string

	mu        sync.Mutex
	closed    bool
	counters  state.Store
	approvals approval.Store
	pins      *pins.Store
	calls     calls.Store
}

// Open opens the backend a spec names:
//
//	""                   SQLite at <StateDir>/state.db (the default)
//	memory               in-process counters and approvals, lost on exit
//	sqlite://PATH        SQLite file at PATH: everything after "sqlite://",
//	                     so sqlite:///var/lib/tollgate/state.db is absolute and
//	                     sqlite://state.db is relative to the working directory
//	redis://[user:pass@]host:port/db, rediss://...   Redis (TLS for rediss)
//
// Anything else is an error that lists these forms. A SQLite file is created
// mode 0600 (see stateopen.PrivateFile); a Redis must answer a PING. Errors never
// carry a password from the spec.
func Open(ctx context.Context, spec string, opts Options) (*Backend, error) {
	b := &Backend{spec: redact.URL(spec), prefix: opts.Prefix}
	switch {
	case spec == "":
		dir := opts.StateDir
		if dir == "" {
			var err error
			if dir, err = state.DefaultDir(); err != nil {
				return nil, fmt.Errorf("open the state store: %w", err)
			}
		}
		return b, b.openSQLite(filepath.Join(dir, "state.db"))
	case spec == "memory":
		return b, nil
	case strings.HasPrefix(spec, "sqlite://"):
		path := strings.TrimPrefix(spec, "sqlite://")
		if path == "" {
			return nil, fmt.Errorf("state %q: missing file path (sqlite:///abs/path.db or sqlite://relative.db)", spec)
		}
		if strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("state %q: options are not supported in a sqlite spec", b.spec)
		}
		return b, b.openSQLite(path)
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		if strings.ContainsAny(opts.Prefix, "{}") {
			return nil, fmt.Errorf("state %s: prefix %q must not contain braces", b.spec, opts.Prefix)
		}
		o, err := redisstore.ClientOptions(spec, 0)
		if err != nil {
			return nil, fmt.Errorf("state %s: %w", b.spec, redact.Error(err, spec))
		}
		rdb := redis.NewClient(o)
		if err := rdb.Ping(ctx).Err(); err != nil {
			rdb.Close()
			return nil, fmt.Errorf("state %s: open %s: %w: %w", b.spec, o.Addr, state.ErrUnavailable, redact.Error(err, spec))
		}
		b.rdb = rdb
		return b, nil
	}
	return nil, fmt.Errorf("state %q: unknown store; want memory, sqlite://PATH, redis://HOST:PORT/DB, rediss://... or nothing for the default SQLite file", b.spec)
}

func (b *Backend) openSQLite(path string) error {
	if err := stateopen.PrivateFile(path); err != nil {
		return err
	}
	db, err := sqlitestore.OpenDB(path, sqlitestore.Options{})
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(sqliteConns)
	db.SetMaxIdleConns(sqliteConns)
	b.db = db
	return nil
}

var errClosed = errors.New("the state backend is closed")

// Counters returns the counter store, made on the first call. Closing it
// gives back what it holds of the handle (the SQLite writer's and
// checkpointer's connections); the handle itself closes with the Backend.
func (b *Backend) Counters(ctx context.Context) (state.Store, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("open the counters: %w: %w", state.ErrUnavailable, errClosed)
	}
	if b.counters != nil {
		return b.counters, nil
	}
	var s state.Store
	var err error
	switch {
	case b.db != nil:
		s, err = sqlitestore.New(ctx, b.db, sqlitestore.Options{})
	case b.rdb != nil:
		s, err = redisstore.New(b.rdb, redisstore.Options{Prefix: b.prefix})
	default:
		s = memstore.New()
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", b.spec, err)
	}
	b.counters = s
	return s, nil
}

// Approvals returns the approval store, made on the first call (with its
// tables, in SQLite). Closing it leaves the handle to the Backend.
func (b *Backend) Approvals(ctx context.Context) (approval.Store, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("open the approval store: %w: %w", approval.ErrUnavailable, errClosed)
	}
	if b.approvals != nil {
		return b.approvals, nil
	}
	var s approval.Store
	var err error
	switch {
	case b.db != nil:
		s, err = aprsqlite.New(ctx, b.db, aprsqlite.Options{})
	case b.rdb != nil:
		s, err = aprredis.New(b.rdb, aprredis.Options{Prefix: b.prefix})
	default:
		s = aprmem.New()
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", b.spec, err)
	}
	b.approvals = s
	return s, nil
}

// Pins returns the pin store (pinned tool definitions), made on the first
// call (with its tables, in SQLite). Closing it leaves the handle to the
// Backend.
func (b *Backend) Pins(ctx context.Context) (*pins.Store, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("open the pin store: %w: %w", pins.ErrUnavailable, errClosed)
	}
	if b.pins != nil {
		return b.pins, nil
	}
	var pb pins.Backend
	var err error
	switch {
	case b.db != nil:
		pb, err = pinsqlite.New(ctx, b.db)
	case b.rdb != nil:
		pb, err = pinredis.New(b.rdb, b.prefix)
	default:
		pb = pinmem.New()
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", b.spec, err)
	}
	b.pins = pins.NewStore(pb)
	return b.pins, nil
}

// Calls returns the store of the gate's call records (multi round-trip
// retries and tasks shared by the processes on this backend), made on the
// first call (with its table, in SQLite). Closing it leaves the handle to
// the Backend.
func (b *Backend) Calls(ctx context.Context) (calls.Store, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, fmt.Errorf("open the call store: %w: %w", calls.ErrUnavailable, errClosed)
	}
	if b.calls != nil {
		return b.calls, nil
	}
	var s calls.Store
	var err error
	switch {
	case b.db != nil:
		s, err = callsqlite.New(ctx, b.db)
	case b.rdb != nil:
		s, err = callredis.New(b.rdb, b.prefix)
	default:
		s = callmem.New(0)
	}
	if err != nil {
		return nil, fmt.Errorf("state %s: %w", b.spec, err)
	}
	b.calls = s
	return s, nil
}

// Close closes the stores made so far, then the handle. It is idempotent;
// later calls of Counters, Approvals, Pins and Calls fail.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	var errs []error
	if b.approvals != nil {
		errs = append(errs, b.approvals.Close())
	}
	if b.pins != nil {
		errs = append(errs, b.pins.Close())
	}
	if b.calls != nil {
		errs = append(errs, b.calls.Close())
	}
	if b.counters != nil {
		errs = append(errs, b.counters.Close())
	}
	if b.db != nil {
		errs = append(errs, b.db.Close())
	}
	if b.rdb != nil {
		errs = append(errs, b.rdb.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close the state backend: %w", err)
	}
	return nil
}
