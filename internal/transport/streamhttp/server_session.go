package streamhttp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// maxFinishedStreams is how many answered streams a session keeps for
// resumption; older ones are forgotten.
const maxFinishedStreams = 32

// session is one initialize-era front session: the client's POSTs feed
// its front Conn, which the session relay reads; what the relay writes is routed
// to the HTTP stream it belongs to.
type session struct {
	id       string
	tag      string // starts the ids of its events (see appendEventID)
	identity string
	ps       *transport.Session
	srv      *Server

	inbox   chan inbound
	closing chan struct{} // closed by end: Read returns io.EOF
	done    chan struct{} // closed when the pump has returned
	endOnce sync.Once
	cancel  context.CancelFunc

	mu         sync.Mutex
	streams    map[int64]*stream
	nextStream int64
	get        *stream            // standalone GET stream, number 0
	pending    map[string]*stream // canonical request id → answer stream
	progress   map[string]*stream // canonical progress token → stream
	open       map[*stream]bool   // SSE request streams not yet answered
	finished   []int64
	current    *stream // stream of the frame the pump read last
	lastActive time.Time
	busy       int // HTTP requests being served
}

// inbound is one frame POSTed by the client, with the stream that answers
// it (nil for notifications and responses).
type inbound struct {
	frame []byte
	st    *stream
}

func newSession(srv *Server, id, identity string) *session {
	s := &session{
		id:       id,
		tag:      rand.Text()[:8],
		identity: identity,
		srv:      srv,
		ps:       &transport.Session{ID: id, Identity: identity},
		inbox:    make(chan inbound, 16),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
		streams:  make(map[int64]*stream),
		pending:  make(map[string]*stream),
		progress: make(map[string]*stream),
		open:     make(map[*stream]bool),
	}
	s.get = newStream(0, false)
	s.get.tag = s.tag
	s.streams[0] = s.get
	s.lastActive = srv.now()
	return s
}

// end asks the session to stop: the pump sees the end of the client's
// input, and is cancelled if it has not returned after the grace period.
func (s *session) end() {
	s.endOnce.Do(func() {
		close(s.closing)
		go func() {
			t := time.NewTimer(s.srv.opts.StopGrace)
			defer t.Stop()
			select {
			case <-s.done:
			case <-t.C:
				s.cancel()
			}
		}()
	})
}

func (s *session) ended() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// touch records activity; held reports an HTTP request in progress.
func (s *session) touch(delta int) {
	s.mu.Lock()
	s.busy += delta
	s.lastActive = s.srv.now()
	s.mu.Unlock()
}

func (s *session) idleSince() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastActive, s.busy == 0
}

// errDuplicateID is answered when a request id is already in flight.
var errDuplicateID = errors.New("invalid request: a request with this id is already in flight")

// newRequestStream registers the stream answering the requests with ids
// (raw) and progress tokens. It fails when an id is already in flight.
func (s *session) newRequestStream(ids, tokens [][]byte, json, priming bool) (*stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		var buf [32]byte
		if _, dup := s.pending[string(jsonrpc.AppendIDKey(buf[:0], id))]; dup {
			return nil, errDuplicateID
		}
	}
	s.nextStream++
	st := newStream(s.nextStream, json)
	st.tag = s.tag
	if priming && !json {
		st.prime()
	}
	for _, id := range ids {
		k := jsonrpc.IDKey(id)
		s.pending[k] = st
		st.ids = append(st.ids, k)
	}
	for _, t := range tokens {
		k := jsonrpc.IDKey(t)
		s.progress[k] = st
		st.tokens = append(st.tokens, k)
	}
	s.streams[st.num] = st
	if !json {
		s.open[st] = true
	}
	return st, nil
}

// finishLocked forgets an answered stream's routes and keeps it for
// resumption among the last few. Called with s.mu held.
func (s *session) finishLocked(st *stream) {
	for _, k := range st.ids {
		if s.pending[k] == st {
			delete(s.pending, k)
		}
	}
	for _, k := range st.tokens {
		if s.progress[k] == st {
			delete(s.progress, k)
		}
	}
	delete(s.open, st)
	s.finished = append(s.finished, st.num)
	if len(s.finished) > maxFinishedStreams {
		delete(s.streams, s.finished[0])
		s.finished = s.finished[1:]
	}
}

// dropStream forgets a stream whose frame never reached the pump.
func (s *session) dropStream(st *stream) {
	s.mu.Lock()
	st.push(nil, true)
	s.finishLocked(st)
	delete(s.streams, st.num)
	s.mu.Unlock()
}

// deliver hands a POSTed frame to the pump. It fails when the session has
// ended or ctx is done first.
func (s *session) deliver(ctx context.Context, in inbound) error {
	select {
	case <-s.closing:
		return errSessionEnded
	default:
	}
	select {
	case s.inbox <- in:
		return nil
	case <-s.closing:
		return errSessionEnded
	case <-ctx.Done():
		return ctx.Err()
	}
}

var errSessionEnded = errors.New("session ended")

// frontConn is the pump's Client side of a session.
type frontConn struct{ s *session }

var _ transport.Conn = frontConn{}

// Read returns the next frame POSTed by the client, io.EOF once the session
// is ending.
func (c frontConn) Read() ([]byte, error) {
	s := c.s
	select {
	case in := <-s.inbox:
		s.setCurrent(in.st)
		return in.frame, nil
	default:
	}
	select {
	case in := <-s.inbox:
		s.setCurrent(in.st)
		return in.frame, nil
	case <-s.closing:
		return nil, io.EOF
	}
}

func (s *session) setCurrent(st *stream) {
	s.mu.Lock()
	s.current = st
	s.mu.Unlock()
}

// Write routes one frame from the pump to the stream it belongs to.
func (c frontConn) Write(frame []byte) error {
	s := c.s
	select {
	case <-s.done:
		return fmt.Errorf("write to http session: %w", transport.ErrClosed)
	default:
	}
	s.route(frame)
	return nil
}

// Close ends the session's input; see transport.Conn.
func (c frontConn) Close() error {
	c.s.end()
	return nil
}

// route puts a frame on exactly one stream: a response on the stream of
// the request it answers; progress on the stream of the request that asked
// for it; any other server message on the one request stream open, else on
// the standalone GET stream.
func (s *session) route(frame []byte) {
	if jsonrpc.IsBatch(frame) {
		s.routeBatch(frame)
		return
	}
	m, err := jsonrpc.Parse(frame, false)
	if err != nil {
		s.srv.log.Warn("http front: dropped an unreadable message for the client", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.IsResponse() {
		var st *stream
		if string(m.ID) == "null" {
			st = s.current
		} else {
			var buf [32]byte
			st = s.pending[string(jsonrpc.AppendIDKey(buf[:0], m.ID))]
		}
		if st == nil || !st.push(frame, true) {
			s.srv.log.Debug("http front: dropped a response no stream waits for", "id", string(m.ID))
			return
		}
		s.finishLocked(st)
		return
	}
	var st *stream
	if m.Method == "notifications/progress" {
		if tok := mcp.ParamsValue(m.Params, "progressToken"); tok != nil {
			var buf [32]byte
			st = s.progress[string(jsonrpc.AppendIDKey(buf[:0], tok))]
		}
	}
	if st == nil && len(s.open) == 1 {
		for o := range s.open {
			st = o
		}
	}
	if st == nil || !st.push(frame, false) {
		s.get.push(frame, false)
	}
}

// routeBatch routes a batch answer to the stream of the batch it answers,
// found by any of its ids; a batch of server messages goes to the GET stream.
func (s *session) routeBatch(frame []byte) {
	elems, err := jsonrpc.SplitBatch(frame, false)
	if err != nil {
		s.srv.log.Warn("http front: dropped an unreadable batch for the client", "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range elems {
		m, err := jsonrpc.Parse(e, false)
		if err != nil || !m.IsResponse() || string(m.ID) == "null" {
			continue
		}
		if st := s.pending[jsonrpc.IDKey(m.ID)]; st != nil && st.push(frame, true) {
			s.finishLocked(st)
			return
		}
	}
	if st := s.current; st != nil && st.push(frame, true) {
		s.finishLocked(st)
		return
	}
	s.get.push(frame, false)
}
