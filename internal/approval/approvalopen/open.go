// Package approvalopen opens the approval store of a --state spec for a
// command that needs nothing else of it (Open), and holds Lazy, the
// approval store a proxy opens on first use. A command that needs the
// counters too makes both from one backend.Backend instead.
package approvalopen

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/backend"
)

// Options complete a spec, as for backend.Open.
type Options = backend.Options

// Open opens spec's backend (see backend.Open) and its approval store; the
// store's Close closes the backend.
func Open(ctx context.Context, spec string, opts Options) (approval.Store, error) {
	b, err := backend.Open(ctx, spec, opts)
	if err != nil {
		return nil, err
	}
	s, err := b.Approvals(ctx)
	if err != nil {
		b.Close()
		return nil, err
	}
	return &owner{Store: s, b: b}, nil
}

// owner is an approval store that closes its backend with itself.
type owner struct {
	approval.Store
	b *backend.Backend
}

func (o *owner) Close() error { return o.b.Close() }

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
