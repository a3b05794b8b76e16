package gateway

import (
	"fmt"
	"io"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
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
	frames []entry // frames[head:] are unread
	head   int
	wake   chan struct{}
	eof    bool // the writer closed it: read what is left, then io.EOF
	closed bool // the reader closed it: Read fails at once
	// waiting: the reader found nothing and waits on wake. A frame
	// written while it is busy wakes nobody (no channel operation).
	waiting bool

	// A recycling queue (a link's, read by a pump that keeps no frame
	// past its next Read, as transport.Conn says) takes back the frame
	// Read returned (lent) at the next Read, for writeEdited to reuse.
	recycle bool
	lent    []byte
	free    [][]byte

	read jsonrpc.Message // the parse ReadParsed returned last (the reader's)
}

// entry is a frame queued, with its parse when the writer gave it.
type entry struct {
	f      []byte
	m      jsonrpc.Message
	parsed bool
}

// maxRecycled bounds a recycling queue's spare frames: how many, and how
// large each may be.
const (
	maxRecycled     = 32
	maxRecycledSize = 16 << 10
)

// recycledPipe is pipe whose a-to-b direction recycles: b's reader must not
// keep a frame past its next Read.
func recycledPipe() (a, b *pipeEnd) {
	a, b = pipe()
	a.out.recycle = true
	return a, b
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
	f, _, err := p.ReadParsed()
	return f, err
}

// ReadParsed is Read, also returning the frame's parse when the writer
// gave it (writeEdited); see transport.ParsedReader.
func (p *pipeEnd) ReadParsed() ([]byte, *jsonrpc.Message, error) {
	q := p.in
	for {
		q.mu.Lock()
		if q.lent != nil {
			if cap(q.lent) <= maxRecycledSize && len(q.free) < maxRecycled {
				q.free = append(q.free, q.lent[:0])
			}
			q.lent = nil
		}
		switch {
		case q.closed:
			q.mu.Unlock()
			return nil, nil, fmt.Errorf("gateway pipe read: %w", transport.ErrClosed)
		case q.head < len(q.frames):
			e := q.frames[q.head]
			f := e.f
			q.frames[q.head] = entry{}
			q.head++
			if q.head == len(q.frames) { // empty: reuse the array
				q.frames, q.head = q.frames[:0], 0
			}
			if q.recycle {
				q.lent = f
			}
			var m *jsonrpc.Message
			if e.parsed {
				q.read = e.m
				m = &q.read
			}
			q.mu.Unlock()
			return f, m, nil
		case q.eof:
			q.mu.Unlock()
			return nil, nil, io.EOF
		}
		q.waiting = true
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
	return p.sendEntry(entry{f: frame})
}

// sendEntry queues e, whose frame the caller gives up.
func (p *pipeEnd) sendEntry(e entry) error {
	q := p.out
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.eof || q.closed {
		return fmt.Errorf("gateway pipe write: %w", transport.ErrClosed)
	}
	q.frames = append(q.frames, e)
	if q.waiting {
		q.waiting = false
		q.signal()
	}
	return nil
}

// spare returns an empty frame buffer the reader gave back, or nil.
func (q *queue) spare() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if n := len(q.free); n > 0 {
		b := q.free[n-1]
		q.free[n-1] = nil
		q.free = q.free[:n-1]
		return b
	}
	return nil
}

// writeEdited writes m's frame with edits applied (see jsonrpc.ApplyEdits)
// to conn: into a buffer its reader gave back when conn is a recycling
// pipe. strict says m is what jsonrpc.Parse(m.Raw, true) returned: a pipe's
// reader is then given the parse moved onto the edited frame
// (jsonrpc.EditMessage), and does not parse it again.
func writeEdited(conn transport.Conn, m jsonrpc.Message, strict bool, edits []jsonrpc.Edit) error {
	p, ok := conn.(*pipeEnd)
	if !ok {
		return conn.Write(jsonrpc.ApplyEdits(m.Raw, edits...))
	}
	buf := p.out.spare()
	if buf == nil {
		buf = make([]byte, 0, len(m.Raw)+32)
	}
	if !strict {
		return p.send(jsonrpc.AppendEdits(buf, m.Raw, edits...))
	}
	out, moved, ok := jsonrpc.EditMessage(buf, m, edits...)
	if handedCheck != nil {
		handedCheck(out, moved, ok)
	}
	return p.sendEntry(entry{f: out, m: moved, parsed: ok})
}

// handedCheck, when set (by tests), sees each frame writeEdited hands over
// with its parse.
var handedCheck func(frame []byte, m jsonrpc.Message, parsed bool)

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
	q.lent, q.free = nil, nil
	q.signal()
	q.mu.Unlock()
	return nil
}
