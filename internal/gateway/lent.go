package gateway

import (
	"fmt"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// lentEnd is a server pump's side of its link: it reads what the router
// writes from a pipe, and what the pump writes is handed to the router on
// the pump's own goroutine, lent for the call: no queue, no copy, and no
// goroutine of the router's woken for each answer. A pump writes its
// server's messages in the order it read them, so the router sees them in
// that order. After the pipe is closed, writes fail as a pipe's do.
type lentEnd struct {
	*pipeEnd // Read, More, CloseWrite and Close: the router's frames
	// deliver is given each frame, which it must not keep: id is the
	// frame's id when it is a response the server sent as it came (a
	// slice of frame; nil otherwise), burst that more frames follow before
	// a Flush, and buf, with such a response, a buffer deliver may build
	// the client's frame in (nil otherwise).
	deliver func(frame, id []byte, burst bool, buf *[]byte)
	flush   func()
	// resp is WriteResponse's buffer, given to deliver: the relay calls
	// WriteResponse from one goroutine at a time (transport.Responder).
	resp []byte
}

var (
	_ transport.Conn      = (*lentEnd)(nil)
	_ transport.Deferrer  = (*lentEnd)(nil)
	_ transport.Responder = (*lentEnd)(nil)
)

// Write hands frame to the router.
func (e *lentEnd) Write(frame []byte) error { return e.hand(frame, nil, false, nil) }

// WriteDeferred hands frame to the router, which may hold what it writes
// to the client until Flush.
func (e *lentEnd) WriteDeferred(frame []byte) error { return e.hand(frame, nil, true, nil) }

// WriteResponse hands the response frame, whose id is frame[at:at+n], to
// the router; see transport.Responder.
func (e *lentEnd) WriteResponse(frame []byte, at, n int, deferred bool) error {
	var id []byte
	if at >= 0 && n > 0 && at+n <= len(frame) {
		id = frame[at : at+n]
	}
	return e.hand(frame, id, deferred, &e.resp)
}

// Flush ends a burst: the router writes what it held, even once the link
// is closed (what it held was handed over before).
func (e *lentEnd) Flush() error {
	e.flush()
	return nil
}

func (e *lentEnd) hand(frame, id []byte, burst bool, buf *[]byte) error {
	if e.closed() {
		return fmt.Errorf("gateway link write: %w", transport.ErrClosed)
	}
	e.deliver(frame, id, burst, buf)
	return nil
}

// closed reports whether either side closed the pipe (the router's Close
// marks the queue the pump would have written to).
func (e *lentEnd) closed() bool {
	q := e.out
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.eof || q.closed
}
