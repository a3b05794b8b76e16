package gateway

import (
	"fmt"
	"io"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// pipe returns two connected in-memory transport.Conns: what one writes the
// other reads, in order. Queues are unbounded, so a writer never waits for
// its reader (two pumps writing to each other cannot deadlock).
func pipe() (a, b *pipeEnd) {
	qa, qb := newQueue(), newQueue()
	return &pipeEnd{in: qa, out: qb}, &pipeEnd{in: qb, out: qa}
}

// queue is one direction of a pipe.
type queue struct {
	mu     sync.Mutex
	frames [][]byte // frames[head:] are unread
	head   int
	wake   chan struct{}
	eof    bool // the writer closed it: read what is left, then io.EOF
	closed bool // the reader closed it: Read fails at once
}

func newQueue() *queue { return &queue{wake: make(chan struct{}, 1)} }

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pipeEnd is one side of a pipe; it implements transport.Conn and
// transport.HalfCloser.
type pipeEnd struct {
	in, out *queue
}

var (
	_ transport.Conn       = (*pipeEnd)(nil)
	_ transport.HalfCloser = (*pipeEnd)(nil)
	_ transport.Deferrer   = (*pipeEnd)(nil)
)

// More reports whether another frame is already queued for Read: the pump
// reading this end then batches what it writes to its server.
func (p *pipeEnd) More() bool {
	q := p.in
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head < len(q.frames)
}

// WriteDeferred is Write: a pipe has nothing to flush.
func (p *pipeEnd) WriteDeferred(frame []byte) error { return p.Write(frame) }

// Flush does nothing.
func (p *pipeEnd) Flush() error { return nil }

// Read returns the next frame written by the other end; see transport.Conn.
func (p *pipeEnd) Read() ([]byte, error) {
	q := p.in
	for {
		q.mu.Lock()
		switch {
		case q.closed:
			q.mu.Unlock()
			return nil, fmt.Errorf("gateway pipe read: %w", transport.ErrClosed)
		case q.head < len(q.frames):
			f := q.frames[q.head]
			q.frames[q.head] = nil
			q.head++
			if q.head == len(q.frames) { // empty: reuse the array
				q.frames, q.head = q.frames[:0], 0
			}
			q.mu.Unlock()
			return f, nil
		case q.eof:
			q.mu.Unlock()
			return nil, io.EOF
		}
		q.mu.Unlock()
		<-q.wake
	}
}

// Write queues a copy of frame for the other end.
func (p *pipeEnd) Write(frame []byte) error {
	return p.send(append([]byte(nil), frame...))
}

// send queues frame itself, which the caller gives up.
func (p *pipeEnd) send(frame []byte) error {
	q := p.out
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.eof || q.closed {
		return fmt.Errorf("gateway pipe write: %w", transport.ErrClosed)
	}
	q.frames = append(q.frames, frame)
	q.signal()
	return nil
}

// writeOwned writes a frame the caller gives up: without a copy when conn
// is a pipe.
func writeOwned(conn transport.Conn, frame []byte) error {
	if p, ok := conn.(*pipeEnd); ok {
		return p.send(frame)
	}
	return conn.Write(frame)
}

// CloseWrite tells the other end that nothing more comes: its Read returns
// io.EOF once it has read what was written.
func (p *pipeEnd) CloseWrite() error {
	q := p.out
	q.mu.Lock()
	q.eof = true
	q.signal()
	q.mu.Unlock()
	return nil
}

// Close ends both directions: this end's Read fails at once, the other
// end's Read returns io.EOF after what was written. It may be called more
// than once.
func (p *pipeEnd) Close() error {
	_ = p.CloseWrite()
	q := p.in
	q.mu.Lock()
	q.closed = true
	q.frames, q.head = nil, 0
	q.signal()
	q.mu.Unlock()
	return nil
}
