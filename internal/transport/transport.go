// Package transport owns the contracts between Tollgate's transports and
// the session relay: a Conn carries JSON-RPC frames, a Dialer opens the
// upstream side of a session (a child process, a streamable HTTP or legacy
// SSE server, one upstream shared by many sessions), and a Handler turns a
// client connection and its upstream into a gated session. Fronts (stdio,
// streamable HTTP, legacy SSE) only call a Handler; package proxy makes the
// one Handler there is, so every transport is judged alike. The transports
// themselves live in the subpackages:
//
//   - stdio: newline-delimited JSON, the client side on Tollgate's own stdin
//     and stdout, and the upstream side on a child process's pipes (with the
//     careful stop: stdin closed, SIGTERM, SIGKILL to its process group).
//   - streamhttp: the streamable HTTP transport (revisions 2025-03-26 to
//     2026-07-28), both the front (Server: sessions, batches and stateless
//     2026-07-28 requests) and the client to an upstream server (ClientConn).
//   - sse: the legacy HTTP+SSE transport of 2024-11-05, front and client, and
//     the Server-Sent Events codec the HTTP front shares.
//   - mux: one upstream connection shared by many sessions, with request ids
//     and progress tokens rewritten so sessions never see each other's
//     traffic.
package transport

import (
	"context"
	"errors"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// Conn is one side of a session: a sequence of JSON-RPC frames.
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

// Deferrer is implemented by a Conn that can batch writes: the relay passes a
// burst of frames (More true on the reading side) with WriteDeferred and
// flushes once at its end, one system call instead of one per frame.
// More is called only from the reading goroutine; WriteDeferred and Flush
// are safe for concurrent use with Write.
type Deferrer interface {
	More() bool
	WriteDeferred(frame []byte) error
	Flush() error
}

// Responder is implemented by a Conn whose reader can be told where a
// response's id is (the gateway's link between a server's relay and its
// router): WriteResponse is Write (or, deferred, WriteDeferred) of a frame
// that is a JSON-RPC response whose id is frame[at:at+n], so that the
// reader routes it without parsing it again. The relay uses it in place of
// Write and WriteDeferred for such a frame, from one goroutine at a time
// (its loop that reads the server).
type Responder interface {
	WriteResponse(frame []byte, at, n int, deferred bool) error
}

// ParsedReader is implemented by a Conn whose writer may give, with a
// frame, the message jsonrpc.Parse(frame, true) returns for it (the
// gateway's router, which read the message before it edited it, moves its
// parse onto the edited frame: jsonrpc.EditMessage). ReadParsed is Read,
// also returning that message, or nil when none was given; it is valid
// until the next read, as the frame is.
type ParsedReader interface {
	ReadParsed() (frame []byte, m *jsonrpc.Message, err error)
}

// Session is what a front and the session's relay know about the client
// it serves. Its methods are safe for concurrent use.
type Session struct {
	// ID identifies the session in audit lines and `per: session` limits.
	ID string
	// Identity is the caller's identity (`--identity`, or the authenticated
	// principal over HTTP), "" when unknown.
	Identity string
	// OneShot marks a session that carries one stateless request (a
	// 2026-07-28 POST over HTTP) and ends with its answer: a handler
	// serves it from what it keeps open for every such request (a shared
	// upstream, servers kept warm) rather than opening anything of its own.
	OneShot bool

	mu      sync.Mutex
	version string
	caps    []byte
	ask     AskFunc
}

// ClientCapabilities returns the raw capabilities object the client declared
// (in initialize, or in a 2026-07-28 request's _meta), nil when unknown.
func (s *Session) ClientCapabilities() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.caps
}

// SetCapabilities records the capabilities the client declared; the
// session's relay calls it.
func (s *Session) SetCapabilities(c []byte) {
	s.mu.Lock()
	s.caps = append([]byte(nil), c...)
	s.mu.Unlock()
}

// ErrNoClient is returned by Ask when the session has no client to ask.
var ErrNoClient = errors.New("no client connected to this session")

// AskFunc sends a request from Tollgate to the client and waits for its
// answer; see Session.Ask.
type AskFunc func(ctx context.Context, method string, params []byte) (result, rpcErr []byte, err error)

// SetAsk installs how Ask reaches the client; the session's relay calls it
// when it starts.
func (s *Session) SetAsk(f AskFunc) {
	s.mu.Lock()
	s.ask = f
	s.mu.Unlock()
}

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

// ErrClosed is returned (wrapped) by a Conn's Read and Write after Close;
// transports wrap it around net.ErrClosed, os.ErrClosed or their own end.
var ErrClosed = errors.New("connection closed")

// ErrUnsent is wrapped by a Conn's Write error when the frame certainly did
// not reach the peer (nothing of it was written). Only then does the relay
// tell a call's Ticket that it was not sent.
var ErrUnsent = errors.New("not sent")

// Dialer opens the upstream side of one session. release, when not nil,
// frees what Dial started (a child process) once the session is over; the
// caller calls it after it stops using conn.
type Dialer interface {
	Dial(ctx context.Context, s *Session) (conn Conn, release func(), err error)
}

// DialFunc is a function that is a Dialer.
type DialFunc func(ctx context.Context, s *Session) (Conn, func(), error)

// Dial implements Dialer.
func (f DialFunc) Dial(ctx context.Context, s *Session) (Conn, func(), error) { return f(ctx, s) }

// Handler relays one session between a client and its upstream under the
// gate. Serve returns when the client's input has ended and the upstream
// has answered what it was asked, when the upstream ends, or when ctx is
// done; it neither closes nor releases the upstream, which the front
// dialled. It returns nil when the client ended the session.
type Handler interface {
	Serve(ctx context.Context, s *Session, client, upstream Conn) error
}
