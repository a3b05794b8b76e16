// Package approvalopen turns a --state spec into an approval.Store in the
// same place as the counters: the same SQLite file, or the same Redis and
// key prefix. It lives apart from package approval because it imports every
// backend.
package approvalopen

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/memstore"
	"github.com/tollgate-mcp/tollgate/internal/approval/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/approval/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/redact"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/stateopen"
)

// Options complete a spec, as for stateopen.
type Options struct {
	// StateDir holds the default SQLite file; empty means state.DefaultDir().
	StateDir string
	// Prefix is the Redis key prefix (the counters' default if empty).
	Prefix string
}

// Open opens the approval store for spec, which has stateopen.Open's forms:
// "" (SQLite at <StateDir>/state.db), memory, sqlite://PATH, redis://...,
// rediss://...
func Open(ctx context.Context, spec string, opts Options) (approval.Store, error) {
	switch {
	case spec == "":
		dir := opts.StateDir
		if dir == "" {
			var err error
			if dir, err = state.DefaultDir(); err != nil {
				return nil, err
			}
		}
		path := filepath.Join(dir, "state.db")
		if err := stateopen.PrivateFile(path); err != nil {
			return nil, err
		}
		return sqlitestore.Open(ctx, path, sqlitestore.Options{})
	case spec == "memory":
		return memstore.New(), nil
	case strings.HasPrefix(spec, "sqlite://"):
		path := strings.TrimPrefix(spec, "sqlite://")
		if path == "" || strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("state %q: want sqlite:///abs/path.db or sqlite://relative.db", redact.URL(spec))
		}
		if err := stateopen.PrivateFile(path); err != nil {
			return nil, err
		}
		return sqlitestore.Open(ctx, path, sqlitestore.Options{})
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		s, err := redisstore.Open(ctx, spec, redisstore.Options{Prefix: opts.Prefix})
		if err != nil {
			return nil, fmt.Errorf("state %s: %w", redact.URL(spec), redact.Error(err, spec))
		}
		return s, nil
	}
	return nil, fmt.Errorf("state %q: unknown store; want memory, sqlite://PATH, redis://HOST:PORT/DB, rediss://... or nothing for the default SQLite file", redact.URL(spec))
}

// Lazy is an approval.Store that opens the real one on first use, so that a
// policy that never holds a call creates no file. A failed open is retried
// on the next use. Close closes the store if it was opened.
type Lazy struct {
	open func(context.Context) (approval.Store, error)

	mu     sync.Mutex
	s      approval.Store
	closed bool
}

var _ approval.Store = (*Lazy)(nil)

// NewLazy returns a Lazy that calls open on first use.
func NewLazy(open func(context.Context) (approval.Store, error)) *Lazy { return &Lazy{open: open} }

func (l *Lazy) get(ctx context.Context) (approval.Store, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("%w: closed", approval.ErrUnavailable)
	}
	if l.s == nil {
		s, err := l.open(ctx)
		if err != nil {
			return nil, fmt.Errorf("open the approval store: %w: %w", approval.ErrUnavailable, err)
		}
		l.s = s
	}
	return l.s, nil
}

// Begin implements approval.Store.
func (l *Lazy) Begin(ctx context.Context, req approval.BeginRequest) (approval.BeginResult, error) {
	s, err := l.get(ctx)
	if err != nil {
		return approval.BeginResult{}, err
	}
	return s.Begin(ctx, req)
}

// Decide implements approval.Store.
func (l *Lazy) Decide(ctx context.Context, id string, d approval.Decision) (approval.Record, error) {
	s, err := l.get(ctx)
	if err != nil {
		return approval.Record{}, err
	}
	return s.Decide(ctx, id, d)
}

// Consume implements approval.Store.
func (l *Lazy) Consume(ctx context.Context, id string, now time.Time) (approval.Record, error) {
	s, err := l.get(ctx)
	if err != nil {
		return approval.Record{}, err
	}
	return s.Consume(ctx, id, now)
}

// Restore implements approval.Store.
func (l *Lazy) Restore(ctx context.Context, id string) error {
	s, err := l.get(ctx)
	if err != nil {
		return err
	}
	return s.Restore(ctx, id)
}

// Get implements approval.Store.
func (l *Lazy) Get(ctx context.Context, id string, now time.Time) (approval.Record, error) {
	s, err := l.get(ctx)
	if err != nil {
		return approval.Record{}, err
	}
	return s.Get(ctx, id, now)
}

// List implements approval.Store.
func (l *Lazy) List(ctx context.Context, f approval.Filter) ([]approval.Record, error) {
	s, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return s.List(ctx, f)
}

// Close implements approval.Store.
func (l *Lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.s == nil {
		return nil
	}
	return l.s.Close()
}
