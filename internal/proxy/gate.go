package proxy

import (
	"context"
	"errors"
	"sync"
)

// Conn is one side of the pump: a sequence of JSON-RPC frames.
//
// Read returns the next frame; the slice is valid only until the next Read.
// Read is called from one goroutine at a time. Write sends one frame and is
// safe for concurrent use; it does not retain the slice. Close unblocks a
// pending Read and may be called more than once.
type Conn interface {
	Read() ([]byte, error)
	Write(frame []byte) error
	Close() error
}

// HalfCloser is implemented by a Conn that can signal the end of its input
// to the peer (closing a child's stdin) while still reading its output.
type HalfCloser interface {
	CloseWrite() error
}

// Deferrer is implemented by a Conn that can batch writes: the pump relays a
// burst of frames (More true on the reading side) with WriteDeferred and
// flushes once at its end, one system call instead of one per frame.
// More is called only from the reading goroutine; WriteDeferred and Flush
// are safe for concurrent use with Write.
type Deferrer interface {
	More() bool
	WriteDeferred(frame []byte) error
	Flush() error
}

// Session is what the pump knows about the client it serves. Its methods are
// safe for concurrent use.
type Session struct {
	// ID identifies the session in audit lines and `per: session` limits.
	ID string
	// Identity is the caller's identity (`--identity`, or the authenticated
	// principal over HTTP), "" when unknown.
	Identity string

	mu      sync.Mutex
	version string
	caps    []byte
	ask     func(ctx context.Context, method string, params []byte) (result, rpcErr []byte, err error)
}

// ClientCapabilities returns the raw capabilities object the client declared
// (in initialize, or in a 2026-07-28 request's _meta), nil when unknown.
func (s *Session) ClientCapabilities() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caps
}

func (s *Session) setCaps(c []byte) {
	s.mu.Lock()
	s.caps = append([]byte(nil), c...)
	s.mu.Unlock()
}

// ErrNoClient is returned by Ask when the session has no client to ask.
var ErrNoClient = errors.New("no client connected to this session")

// Ask sends a request from Tollgate itself to the client (for example
// elicitation/create during a held call) and waits for its response or for
// ctx to end, in which case the client is told the request was cancelled.
// params is a raw JSON object. It is safe to call while the session runs.
func (s *Session) Ask(ctx context.Context, method string, params []byte) (result, rpcErr []byte, err error) {
	s.mu.Lock()
	ask := s.ask
	s.mu.Unlock()
	if ask == nil {
		return nil, nil, ErrNoClient
	}
	return ask(ctx, method, params)
}

// Version returns the negotiated protocol revision, "" before negotiation.
func (s *Session) Version() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version
}

// SetVersion records the negotiated protocol revision.
func (s *Session) SetVersion(v string) {
	s.mu.Lock()
	s.version = v
	s.mu.Unlock()
}

// Call is a tools/call as the gate sees it. Its slices alias the frame being
// read: a gate must copy anything it keeps after Judge returns.
type Call struct {
	Session *Session
	ID      []byte // raw request id
	Tool    string
	Args    []byte // raw arguments object
}

// Ruling is the gate's answer to a call.
type Ruling struct {
	// Answer, when not nil, is the complete JSON-RPC response to send the
	// client instead of forwarding the call.
	Answer []byte
	// Admit, when not nil, must run before the call is forwarded. It may
	// block on I/O (a state store), so the pump runs it off its read loop; it
	// returns the final ruling, whose Admit is ignored.
	Admit func(ctx context.Context) Ruling
	// Quick says Admit does not block on I/O (its store is in memory), so
	// the pump runs it on the read loop and saves a goroutine hand-off.
	Quick bool
	// Ticket, when not nil, is told how the forwarded call ended.
	Ticket Ticket
	// Unknown says the call must be answered exactly as the server answers
	// a tool it does not have (the tool is hidden, or not shown at all).
	// The pump asks the server about a name that cannot exist, in the
	// call's place and under its id, and passes the answer on with the
	// name put back: the same answer and the same round trip as a tool the
	// server lacks.
	Unknown bool
}

// Ticket follows one forwarded call.
type Ticket interface {
	// Done is called exactly once, with how the call ended.
	Done(e End)
}

// End is how a forwarded call ended, as the pump saw it. Only Unsent proves
// the server did not run the call: an error, a cancellation or a missing
// answer all leave open that it ran.
type End struct {
	// Result and Error are the server's raw result or error; both are nil
	// when no response came (the session ended, or the call was abandoned).
	Result, Error []byte
	// Unsent reports that the request never left Tollgate: writing it to
	// the server failed, so the server cannot have run it.
	Unsent bool
	// Cancelled reports that the client cancelled the call
	// (notifications/cancelled) after it was forwarded. Whatever the server
	// then answers, the call may have run.
	Cancelled bool
}

// ErrUnsent is wrapped by a Conn's Write error when the frame certainly did
// not reach the peer (nothing of it was written). Only then does the pump
// tell a call's Ticket that it was not sent.
var ErrUnsent = errors.New("not sent")

// Gate judges what the pump relays. Implementations are safe for concurrent
// use.
type Gate interface {
	// Judge rules on a tools/call without blocking on I/O.
	Judge(ctx context.Context, c *Call) Ruling
	// Lists returns how tools/list results must be edited under the policy
	// in force: hidden reports a tool to remove, listed is told each tool
	// the client receives (tool aliases the frame). Either is nil when not
	// needed; with both nil the result passes untouched, unread.
	Lists() (hidden func(tool string) bool, listed func(name string, tool []byte))
	// Refused records a client message the pump refused or dropped without
	// forwarding it: a malformed or ambiguous message, a request whose id is
	// already in flight, or a tools/call sent as a notification (no id to
	// answer). c is the tools/call the message carried when it could be
	// read, else nil. It must not block for long.
	Refused(s *Session, c *Call, reason string)
	// ListChanged returns a channel that is closed when what tools/list
	// shows changes under the gate (a reload that hides other tools); call
	// it again for the next change.
	ListChanged() <-chan struct{}
}
