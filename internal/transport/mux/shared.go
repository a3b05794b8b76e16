package mux

import (
	"context"
	"log/slog"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// Shared is a transport.Dialer that gives every session a side of one
// upstream: the first Dial opens it through the inner Dialer and puts a
// Mux over it, later Dials attach to that Mux, and a Dial after the
// upstream ended opens it again. It is safe for concurrent use.
type Shared struct {
	open transport.Dialer
	log  *slog.Logger

	mu      sync.Mutex
	mux     *Mux
	release func()
	closed  bool
}

var _ transport.Dialer = (*Shared)(nil)

// NewShared returns a Shared dialer over open. A nil logger discards.
func NewShared(open transport.Dialer, logger *slog.Logger) *Shared {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Shared{open: open, log: logger}
}

// ErrSharedClosed is returned by Dial after Close.
var ErrSharedClosed = transport.ErrClosed

// Dial implements transport.Dialer. The upstream outlives ctx: it is
// opened for every session to come, and stopped by Close.
func (s *Shared) Dial(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, ErrSharedClosed
	}
	if s.mux != nil {
		select {
		case <-s.mux.Done():
			s.log.Warn("the shared upstream ended; starting it again")
			_ = s.mux.Close()
			if rel := s.release; rel != nil {
				go rel() // it ended: stopping what is left must not hold up Dial
			}
			s.mux, s.release = nil, nil
		default:
		}
	}
	if s.mux == nil {
		conn, release, err := s.open.Dial(context.WithoutCancel(ctx), &transport.Session{ID: "shared"})
		if err != nil {
			return nil, nil, err
		}
		s.mux, s.release = New(conn, s.log), release
	}
	return s.mux.Attach(), nil, nil
}

func (s *Shared) stopLocked() {
	if s.mux != nil {
		_ = s.mux.Close()
	}
	if s.release != nil {
		s.release()
	}
	s.mux, s.release = nil, nil
}

// Close stops the upstream (if open) and refuses later Dials. It may be
// called more than once.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.stopLocked()
	return nil
}
