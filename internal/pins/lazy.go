package pins

import (
	"context"
	"fmt"
	"sync"
)

// Lazy returns a Backend that opens the one open returns on first use (a
// failed open is tried again by the next call), so that a proxy that only
// records pins pays for opening the store at its first list, not at its
// start.
func Lazy(open func(context.Context) (Backend, error)) Backend {
	return &lazy{open: open}
}

type lazy struct {
	open   func(context.Context) (Backend, error)
	mu     sync.Mutex
	b      Backend
	closed bool
}

func (l *lazy) get(ctx context.Context) (Backend, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("pins: %w: closed", ErrUnavailable)
	}
	if l.b == nil {
		b, err := l.open(ctx)
		if err != nil {
			return nil, fmt.Errorf("open the pin store: %w: %w", ErrUnavailable, err)
		}
		l.b = b
	}
	return l.b, nil
}

func (l *lazy) Update(ctx context.Context, server string, fn func(*Snapshot) error) error {
	b, err := l.get(ctx)
	if err != nil {
		return err
	}
	return b.Update(ctx, server, fn)
}

func (l *lazy) Load(ctx context.Context, server string) (*Snapshot, error) {
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return b.Load(ctx, server)
}

func (l *lazy) Servers(ctx context.Context) ([]string, error) {
	b, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return b.Servers(ctx)
}

func (l *lazy) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	if l.b != nil {
		return l.b.Close()
	}
	return nil
}
