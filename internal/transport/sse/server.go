package sse

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// ServerOptions configure NewServer. Upstream and Handler are required.
type ServerOptions struct {
	// Upstream opens the upstream side of each legacy session.
	Upstream transport.Dialer
	// Handler relays each session under the gate.
	Handler transport.Handler
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// MaxMessageSize bounds a POST body; <= 0 means jsonrpc.DefaultMaxFrame.
	MaxMessageSize int
	// Identity returns the authenticated caller of a request; a session's
	// POSTs must come from the identity that opened its stream.
	Identity func(*http.Request) string
	// MessagePath is the path of the POST endpoint announced in the
	// endpoint event ("/message" when empty).
	MessagePath string
	// KeepAlive is the interval of comment lines on an idle stream; 0 means
	// 25 seconds.
	KeepAlive time.Duration
}

// maxQueued bounds the messages waiting for a slow client's stream.
const maxQueued = 4096

// Server serves old MCP clients over the HTTP+SSE transport of revision
// 2024-11-05: GET opens a session's event stream, whose first event names
// the URL to POST messages to (MessagePath?sessionId=ID); every message for
// the client is an event on that stream. The session (and its upstream)
// ends when the stream's connection closes. Each session runs one
// relay of the Handler, so the gate applies as on every other transport.
//
// Server is an http.Handler for both paths, safe for concurrent use.
type Server struct {
	opts ServerOptions
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	sessions map[string]*legacySession
	draining bool
	drain    chan struct{}
}

// NewServer returns a Server; call Close when done.
func NewServer(opts ServerOptions) *Server {
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = jsonrpc.DefaultMaxFrame
	}
	if opts.MessagePath == "" {
		opts.MessagePath = "/message"
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 25 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Server{opts: opts, log: log, ctx: ctx, stop: stop, sessions: make(map[string]*legacySession), drain: make(chan struct{})}
}

// legacySession is one client's stream and the pump behind it.
type legacySession struct {
	id       string
	identity string
	inbox    chan []byte
	closing  chan struct{}
	endOnce  sync.Once

	mu    sync.Mutex
	queue [][]byte
	wake  chan struct{}
}

func (ls *legacySession) end() { ls.endOnce.Do(func() { close(ls.closing) }) }

// Read implements transport.Conn for the pump: the client's POSTed messages.
func (ls *legacySession) Read() ([]byte, error) {
	select {
	case f := <-ls.inbox:
		return f, nil
	case <-ls.closing:
		return nil, io.EOF
	}
}

// Write implements transport.Conn: the message becomes an event on the stream.
func (ls *legacySession) Write(frame []byte) error {
	ls.mu.Lock()
	if len(ls.queue) >= maxQueued {
		ls.mu.Unlock()
		return errors.New("legacy sse: the client is not reading its stream")
	}
	ls.queue = append(ls.queue, append([]byte(nil), frame...))
	ls.mu.Unlock()
	select {
	case ls.wake <- struct{}{}:
	default:
	}
	return nil
}

// Close implements transport.Conn.
func (ls *legacySession) Close() error {
	ls.end()
	return nil
}

func (ls *legacySession) take() [][]byte {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	q := ls.queue
	ls.queue = nil
	return q
}

// ServeHTTP serves GET (the stream) and POST (a message) on any path the
// server is mounted at.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		s.stream(w, r)
	case http.MethodPost:
		s.message(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (s *Server) identity(r *http.Request) string {
	if s.opts.Identity == nil {
		return ""
	}
	return s.opts.Identity(r)
}

// stream opens a session and serves its events until the client goes away,
// the upstream ends, or the server drains.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	draining := s.draining
	s.mu.Unlock()
	if draining {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	ls := &legacySession{id: rand.Text(), identity: s.identity(r), inbox: make(chan []byte, 16), closing: make(chan struct{}), wake: make(chan struct{}, 1)}
	ps := &transport.Session{ID: ls.id, Identity: ls.identity}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	up, release, err := s.opts.Upstream.Dial(ctx, ps)
	if err != nil {
		s.log.Error("legacy sse: opening the upstream failed", "err", err)
		http.Error(w, "bad gateway: the upstream server could not be started", http.StatusBadGateway)
		return
	}
	s.mu.Lock()
	s.sessions[ls.id] = ls
	s.wg.Add(1)
	s.mu.Unlock()
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		_ = s.opts.Handler.Serve(ctx, ps, ls, up)
		ls.end()
	}()
	defer func() {
		s.mu.Lock()
		delete(s.sessions, ls.id)
		s.mu.Unlock()
		ls.end()
		t := time.AfterFunc(2*time.Second, cancel) // a pump that will not finish
		<-pumpDone
		t.Stop()
		_ = up.Close()
		if release != nil {
			release()
		}
		s.wg.Done()
	}()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := NewWriter(w)
	if err := sw.Write(Event{Name: "endpoint", Data: []byte(s.opts.MessagePath + "?sessionId=" + ls.id)}); err != nil {
		return
	}
	tick := time.NewTicker(s.opts.KeepAlive)
	defer tick.Stop()
	for {
		for _, f := range ls.take() {
			if err := sw.Write(Event{Name: "message", Data: f}); err != nil {
				return
			}
		}
		select {
		case <-ls.wake:
		case <-tick.C:
			if err := sw.Comment("keep-alive"); err != nil {
				return
			}
		case <-ls.closing:
			for _, f := range ls.take() {
				_ = sw.Write(Event{Name: "message", Data: f})
			}
			return
		case <-r.Context().Done():
			return
		case <-s.drain:
			return
		}
	}
}

// message accepts one POSTed message for a session: 202, and the answer
// comes on the session's stream.
func (s *Server) message(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("sessionId")
	if id == "" {
		http.Error(w, "missing sessionId", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	ls := s.sessions[id]
	s.mu.Unlock()
	if ls == nil || ls.identity != s.identity(r) {
		http.Error(w, "session not found", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(s.opts.MaxMessageSize)))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write(jsonrpc.AppendError(nil, nil, jsonrpc.CodeInvalidRequest, "message too large: the limit is "+strconv.Itoa(s.opts.MaxMessageSize)+" bytes", nil))
			return
		}
		http.Error(w, "reading the body failed", http.StatusBadRequest)
		return
	}
	if err := wellFormed(body); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(jsonrpc.AppendError(nil, nil, jsonrpc.CodeParseError, err.Error(), nil))
		return
	}
	select {
	case ls.inbox <- body:
		w.WriteHeader(http.StatusAccepted)
	case <-ls.closing:
		http.Error(w, "session not found", http.StatusNotFound)
	case <-r.Context().Done():
	}
}

// wellFormed reports malformed JSON, which gets 400; anything else that is
// wrong the pump answers on the stream, as over stdio.
func wellFormed(body []byte) error {
	var err error
	if jsonrpc.IsBatch(body) {
		_, err = jsonrpc.SplitBatch(body, true)
	} else {
		_, err = jsonrpc.Parse(body, true)
	}
	var rpcErr *jsonrpc.Error
	if errors.As(err, &rpcErr) && rpcErr.Code == jsonrpc.CodeParseError {
		return fmt.Errorf("%s", rpcErr.Message)
	}
	return nil
}

// Drain ends every open stream (and with it its session) so that an
// http.Server's Shutdown does not wait for them, and refuses new ones.
func (s *Server) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.draining {
		s.draining = true
		close(s.drain)
	}
}

// Close ends every session and waits for their upstreams to stop. It may be
// called more than once.
func (s *Server) Close() error {
	s.Drain()
	s.mu.Lock()
	for _, ls := range s.sessions {
		ls.end()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.stop()
	return nil
}
