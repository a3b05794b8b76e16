package streamhttp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"

	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/mux"
)

// Defaults of ServerOptions.
const (
	DefaultSessionTimeout = 30 * time.Minute
	DefaultRetry          = 2 * time.Second
	DefaultStopGrace      = 2 * time.Second
	DefaultKeepAlive      = 25 * time.Second
)

// Header names of the streamable HTTP transport.
const (
	HeaderSessionID       = "Mcp-Session-Id"
	HeaderProtocolVersion = "Mcp-Protocol-Version"
	HeaderMethod          = "Mcp-Method"
	HeaderName            = "Mcp-Name"
	headerLastEventID     = "Last-Event-Id"
)

// CodeHeaderMismatch is the JSON-RPC error of a 2026-07-28 request whose
// Mcp-* headers do not match its body (HeaderMismatch).
const CodeHeaderMismatch = -32020

// CodeUnsupportedVersion is the JSON-RPC error of a request for a protocol
// revision Tollgate does not speak (UnsupportedProtocolVersionError).
const CodeUnsupportedVersion = -32022

// ServerOptions configure NewServer. Upstream and Handler are required.
type ServerOptions struct {
	// Upstream opens the upstream side of one front session. It is dialled
	// when a client initializes a session, and once for all the stateless
	// (2026-07-28) requests the server serves (shared through a mux). The
	// conn is closed when the session ends, then release (when not nil) is
	// called once, to free what backs it (stop a child process). The
	// context ends with the Server.
	Upstream transport.Dialer
	// Handler relays each session under the gate.
	Handler transport.Handler
	// Logger receives operational messages; nil discards them.
	Logger *slog.Logger
	// MaxMessageSize bounds a POST body; <= 0 means jsonrpc.DefaultMaxFrame.
	MaxMessageSize int
	// Identity returns the authenticated caller of a request ("" when
	// unknown). A session belongs to the identity that opened it: requests
	// from another identity are answered 404.
	Identity func(*http.Request) string
	// SessionTimeout ends sessions idle this long; 0 means
	// DefaultSessionTimeout.
	SessionTimeout time.Duration
	// Retry is the reconnection delay announced on priming events; 0 means
	// DefaultRetry.
	Retry time.Duration
	// StopGrace is how long an ending session's pump may take to finish
	// before it is cancelled; 0 means DefaultStopGrace.
	StopGrace time.Duration
	// Now is the clock for idle expiry; nil means time.Now.
	Now func() time.Time
}

// Server serves MCP clients over streamable HTTP at one endpoint: POST,
// GET and DELETE for the initialize-era revisions (2025-03-26 to
// 2025-11-25) with sessions, and stateless POSTs for 2026-07-28. Every
// session runs through the Handler with the HTTP session as its client, so the
// gate judges HTTP clients exactly as it judges stdio ones.
//
// Server is an http.Handler, safe for concurrent use. Close ends every
// session and waits for what the Server started.
type Server struct {
	opts ServerOptions
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	sessions  map[string]*session
	closed    bool
	draining  bool
	drain     chan struct{} // closed by Drain
	stateless *mux.Shared   // the upstream every stateless request shares

	params toolParams // x-mcp-header annotations of the tools listed to stateless clients
}

// NewServer returns a Server. Call Close when done with it.
func NewServer(opts ServerOptions) *Server {
	if opts.MaxMessageSize <= 0 {
		opts.MaxMessageSize = jsonrpc.DefaultMaxFrame
	}
	if opts.SessionTimeout <= 0 {
		opts.SessionTimeout = DefaultSessionTimeout
	}
	if opts.Retry <= 0 {
		opts.Retry = DefaultRetry
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = DefaultStopGrace
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{opts: opts, log: log, ctx: ctx, cancel: cancel, sessions: make(map[string]*session), drain: make(chan struct{}),
		stateless: mux.NewShared(opts.Upstream, log)}
	s.wg.Add(1)
	go s.janitor()
	return s
}

func (s *Server) now() time.Time {
	if s.opts.Now != nil {
		return s.opts.Now()
	}
	return time.Now()
}

// janitor ends idle sessions.
func (s *Server) janitor() {
	defer s.wg.Done()
	every := s.opts.SessionTimeout / 4
	if every > time.Minute {
		every = time.Minute
	}
	if every < 10*time.Millisecond {
		every = 10 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.Expire()
	}
}

// Expire ends the sessions idle for longer than the session timeout. The
// janitor calls it periodically; tests with an injected clock call it too.
func (s *Server) Expire() {
	now := s.now()
	s.mu.Lock()
	var idle []*session
	for _, ss := range s.sessions {
		if last, free := ss.idleSince(); free && now.Sub(last) > s.opts.SessionTimeout {
			idle = append(idle, ss)
		}
	}
	s.mu.Unlock()
	for _, ss := range idle {
		s.log.Info("http front: session expired", "session", ss.id)
		s.endSession(ss)
	}
}

// Sessions returns the number of live sessions.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Drain closes the standalone GET streams, which would otherwise hold an
// http.Server's Shutdown until its deadline, and refuses new sessions.
// Calls in flight go on. Register it with http.Server.RegisterOnShutdown.
func (s *Server) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.draining {
		s.draining = true
		close(s.drain)
	}
}

// Close ends every session (stopping their upstreams) and waits for the
// goroutines the Server started. It may be called more than once.
func (s *Server) Close() error {
	s.Drain()
	s.mu.Lock()
	s.closed = true
	all := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.end()
	}
	for _, ss := range all {
		<-ss.done
	}
	_ = s.stateless.Close()
	s.cancel()
	s.wg.Wait()
	return nil
}

// ServeHTTP implements http.Handler for the MCP endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if v := r.Header.Get(HeaderProtocolVersion); v != "" && !mcp.KnownVersion(v) {
		writeError(w, http.StatusBadRequest, nil, CodeUnsupportedVersion,
			"unsupported protocol version "+quote(v)+" in the MCP-Protocol-Version header; supported: "+strings.Join(mcp.Versions, ", "),
			unsupportedData(v))
		return
	}
	switch r.Method {
	case http.MethodPost:
		s.post(w, r)
	case http.MethodGet:
		s.getStream(w, r)
	case http.MethodDelete:
		s.deleteSession(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, nil, jsonrpc.CodeInvalidRequest, "method not allowed: use POST, GET or DELETE", nil)
	}
}

func unsupportedData(v string) []byte {
	b := []byte(`{"supported":[`)
	for i, k := range mcp.Versions {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonrpc.AppendString(b, k)
	}
	b = append(b, `],"requested":`...)
	b = jsonrpc.AppendString(b, v)
	return append(b, '}')
}

func quote(s string) string { return string(jsonrpc.AppendString(nil, s)) }

// writeError answers with an HTTP status and a JSON-RPC error body.
func writeError(w http.ResponseWriter, status int, id []byte, code int, msg string, data []byte) {
	setJSONType(w.Header())
	w.WriteHeader(status)
	_, _ = w.Write(jsonrpc.AppendError(nil, id, code, msg, data))
}

func (s *Server) identity(r *http.Request) string {
	if s.opts.Identity == nil {
		return ""
	}
	return s.opts.Identity(r)
}

// accepts reports which answers the Accept header allows: JSON (explicitly
// or by a wildcard) and SSE (only when named).
func accepts(r *http.Request) (json, sse bool) {
	vs := r.Header[keyAccept]
	if json, sse, ok := isCanonicalAccept(vs); ok {
		return json, sse
	}
	for _, part := range vs {
		for _, v := range strings.Split(part, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(v))
			if err != nil {
				continue
			}
			switch mt {
			case "application/json", "application/*", "*/*":
				json = true
			case "text/event-stream":
				sse = true
			}
		}
	}
	return json, sse
}

// lookup returns the live session a request names, answering the request
// itself (400, 404) when there is none.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *session {
	sid := r.Header.Get(HeaderSessionID)
	if sid == "" {
		writeError(w, http.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "bad request: missing Mcp-Session-Id header (initialize first)", nil)
		return nil
	}
	s.mu.Lock()
	ss := s.sessions[sid]
	s.mu.Unlock()
	if ss == nil || ss.ended() || ss.identity != s.identity(r) {
		writeError(w, http.StatusNotFound, nil, jsonrpc.CodeInvalidRequest, "session not found: it ended or never existed; initialize a new one", nil)
		return nil
	}
	return ss
}

// post handles one POSTed message or batch.
func (s *Server) post(w http.ResponseWriter, r *http.Request) {
	wantJSON, wantSSE := accepts(r)
	if !wantJSON && !wantSSE {
		writeError(w, http.StatusNotAcceptable, nil, jsonrpc.CodeInvalidRequest, "not acceptable: Accept must list application/json and text/event-stream", nil)
		return
	}
	if ct := r.Header.Get(keyContentType); ct != "" {
		if mediaTypeOf(ct) != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, nil, jsonrpc.CodeInvalidRequest, "unsupported media type: the body must be application/json", nil)
			return
		}
	}
	body, err := readRequestBody(w, r, s.opts.MaxMessageSize)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, nil, jsonrpc.CodeInvalidRequest,
				"message too large: the limit is "+strconv.Itoa(s.opts.MaxMessageSize)+" bytes", nil)
			return
		}
		writeError(w, http.StatusBadRequest, nil, jsonrpc.CodeParseError, "parse error: reading the body failed", nil)
		return
	}
	var parsedBody parsed // on the stack: p does not outlive the request
	p := &parsedBody
	if herr := p.parse(body); herr != nil {
		writeError(w, http.StatusBadRequest, herr.ID, herr.Code, herr.Message, nil)
		return
	}
	if p.stateless(r) {
		s.statelessPost(w, r, body, p, wantSSE)
		return
	}
	if r.Header.Get(HeaderSessionID) == "" && p.isInitialize() {
		s.initialize(w, r, body, p, wantSSE)
		return
	}
	ss := s.lookup(w, r)
	if ss == nil {
		return
	}
	ss.touch(1)
	defer ss.touch(-1)
	s.sessionPost(w, r, ss, body, p, wantSSE, false)
}

// parsed is what the front reads of a POST body: one message, or a batch.
type parsed struct {
	batch bool
	msgs  []jsonrpc.Message // the readable messages
	bad   bool              // some batch element is not a valid message
	one   [1]jsonrpc.Message
}

func (p *parsed) isInitialize() bool {
	return !p.batch && len(p.msgs) == 1 && p.msgs[0].IsRequest() && p.msgs[0].Method == mcp.MethodInitialize
}

// requests appends the ids and progress tokens of the requests in the body
// to ids and tokens.
func (p *parsed) requests(ids, tokens [][]byte) ([][]byte, [][]byte) {
	for i := range p.msgs {
		m := &p.msgs[i]
		if !m.IsRequest() {
			continue
		}
		ids = append(ids, m.ID)
		if tok := mcp.MetaValue(m.Params, "progressToken"); tok != nil {
			tokens = append(tokens, tok)
		}
	}
	return ids, tokens
}

// stateless reports whether the body is a 2026-07-28 request, served
// without a session: its MCP-Protocol-Version header or its _meta says so.
func (p *parsed) stateless(r *http.Request) bool {
	if r.Header.Get(HeaderProtocolVersion) == mcp.Version20260728 {
		return true
	}
	if p.batch || len(p.msgs) != 1 {
		return false
	}
	m := &p.msgs[0]
	return m.Method == mcp.MethodDiscover || mcp.MetaString(m.Params, mcp.MetaProtocolVersion) == mcp.Version20260728
}

// parse reads the envelope of a body into p. Malformed JSON, and a single
// message whose envelope is unacceptable, are errors the front answers
// itself with 400; the elements of a batch are left to the pump, which
// answers each in place.
func (p *parsed) parse(body []byte) *jsonrpc.Error {
	if jsonrpc.IsBatch(body) {
		p.batch = true
		elems, err := jsonrpc.SplitBatch(body, true)
		if err != nil {
			var rpcErr *jsonrpc.Error
			errors.As(err, &rpcErr)
			if rpcErr.Code == jsonrpc.CodeParseError {
				return rpcErr
			}
			p.bad = true // an empty batch: the pump answers it
			return nil
		}
		for _, e := range elems {
			m, err := jsonrpc.Parse(e, true)
			if err != nil {
				p.bad = true
				continue
			}
			p.msgs = append(p.msgs, m)
		}
		return nil
	}
	m, err := jsonrpc.Parse(body, true)
	if err != nil {
		var rpcErr *jsonrpc.Error
		errors.As(err, &rpcErr)
		return rpcErr
	}
	p.one[0] = m
	p.msgs = p.one[:]
	return nil
}

// readRequestBody reads a POST body of at most limit bytes. A body whose
// length the client declared is read into one buffer of that size; any
// other goes through http.MaxBytesReader, which also answers a declared
// length over the limit (an *http.MaxBytesError).
func readRequestBody(w http.ResponseWriter, r *http.Request, limit int) ([]byte, error) {
	if n := r.ContentLength; n > 0 && n <= int64(limit) {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		return b, nil
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, int64(limit)))
}

func newSessionID() string { return rand.Text() }

// initialize opens a session for an initialize request.
func (s *Server) initialize(w http.ResponseWriter, r *http.Request, body []byte, p *parsed, wantSSE bool) {
	s.mu.Lock()
	refusing := s.draining
	s.mu.Unlock()
	if refusing {
		writeError(w, http.StatusServiceUnavailable, p.msgs[0].ID, jsonrpc.CodeInternalError, "service unavailable: Tollgate is shutting down", nil)
		return
	}
	ss := newSession(s, newSessionID(), s.identity(r))
	ctx, cancel := context.WithCancel(s.ctx)
	ss.cancel = cancel
	up, release, err := s.opts.Upstream.Dial(ctx, ss.ps)
	if err != nil {
		cancel()
		s.log.Error("http front: opening the upstream failed", "err", err)
		writeError(w, http.StatusBadGateway, p.msgs[0].ID, jsonrpc.CodeInternalError, "bad gateway: the upstream server could not be started", nil)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		cancel()
		_ = up.Close()
		if release != nil {
			release()
		}
		writeError(w, http.StatusServiceUnavailable, p.msgs[0].ID, jsonrpc.CodeInternalError, "service unavailable: Tollgate is shutting down", nil)
		return
	}
	s.sessions[ss.id] = ss
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		err := s.opts.Handler.Serve(ctx, ss.ps, frontConn{ss}, up)
		if err != nil && !errors.Is(err, context.Canceled) {
			s.log.Info("http front: session ended", "session", ss.id, "err", err)
		}
		ss.end()
		cancel()
		_ = up.Close()
		if release != nil {
			release()
		}
		s.mu.Lock()
		if s.sessions[ss.id] == ss {
			delete(s.sessions, ss.id)
		}
		s.mu.Unlock()
		close(ss.done)
	}()
	ss.touch(1)
	defer ss.touch(-1)
	s.sessionPost(w, r, ss, body, p, wantSSE, true)
}

// sessionPost hands a POST to a session's pump and answers it: 202 for
// notifications and responses, else the answer as JSON or an SSE stream.
func (s *Server) sessionPost(w http.ResponseWriter, r *http.Request, ss *session, body []byte, p *parsed, wantSSE, first bool) {
	var idBuf, tokenBuf [1][]byte // a single request's, without allocating
	ids, tokens := p.requests(idBuf[:0], tokenBuf[:0])
	expect := len(ids) > 0 || p.bad || (p.batch && !mcp.SupportsBatch(ss.ps.Version()))
	if !expect {
		if err := ss.deliver(r.Context(), inbound{frame: body}); err != nil {
			writeError(w, http.StatusNotFound, nil, jsonrpc.CodeInvalidRequest, "session not found: it ended", nil)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	version := ss.ps.Version()
	if first && len(p.msgs) == 1 {
		version = mcp.ResultString(p.msgs[0].Params, "protocolVersion")
	}
	priming := version >= mcp.Version20251125
	st, err := ss.newRequestStream(ids, tokens, !wantSSE, priming)
	if err != nil {
		writeError(w, http.StatusBadRequest, ids[0], jsonrpc.CodeInvalidRequest, err.Error(), nil)
		return
	}
	if err := ss.deliver(r.Context(), inbound{frame: body, st: st}); err != nil {
		ss.dropStream(st)
		writeError(w, http.StatusNotFound, nil, jsonrpc.CodeInvalidRequest, "session not found: it ended", nil)
		return
	}
	var hdr http.Header // nil but for the first answer of a session
	if first {
		hdr = http.Header{keySessionID: {ss.id}}
	}
	if !wantSSE {
		s.answerJSON(w, r, st, ss.done, hdr)
		return
	}
	h, ok := st.attach(r.Context(), false)
	if !ok {
		return // a resumption took the stream over before it began
	}
	defer st.detach(h)
	serveSSE(w, r, st, 0, ss.done, sseOptions{ids: true, retry: s.opts.Retry, header: hdr, hold: postHold, kicked: h.kick})
}

// answerJSON waits for a stream's answer and writes it as one JSON body.
func (s *Server) answerJSON(w http.ResponseWriter, r *http.Request, st *stream, stop <-chan struct{}, hdr http.Header) {
	select {
	case <-st.finished:
	case <-r.Context().Done():
		return
	case <-stop:
		select {
		case <-st.finished: // the answer came in just before the end
		default:
			writeError(w, http.StatusNotFound, nil, jsonrpc.CodeInvalidRequest, "session not found: it ended before the answer", nil)
			return
		}
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	ans := st.finalAnswer()
	if ans == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	setJSONType(w.Header())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(ans)
}

// getStream serves GET: the session's standalone stream, or the resumption
// of any stream of the session with Last-Event-ID.
func (s *Server) getStream(w http.ResponseWriter, r *http.Request) {
	if _, sse := accepts(r); !sse {
		writeError(w, http.StatusNotAcceptable, nil, jsonrpc.CodeInvalidRequest, "not acceptable: Accept must list text/event-stream", nil)
		return
	}
	ss := s.lookup(w, r)
	if ss == nil {
		return
	}
	ss.touch(1)
	defer ss.touch(-1)
	st, cursor := ss.get, ss.get.sentSeq()
	keepAlive := DefaultKeepAlive
	last := r.Header.Get(headerLastEventID)
	if last != "" {
		tag, num, seq, ok := parseEventID(last)
		var found *stream
		if ok && tag == ss.tag {
			ss.mu.Lock()
			found = ss.streams[num]
			ss.mu.Unlock()
		}
		if found == nil || !found.resumable(seq) {
			writeError(w, http.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "bad request: Last-Event-ID names no event sent on a stream of this session", nil)
			return
		}
		st, cursor = found, seq
		if num != 0 {
			keepAlive = 0
		}
	}
	// A resumption takes the stream over from a connection that may be
	// dead; a second plain GET is refused.
	h, ok := st.attach(r.Context(), last != "")
	if !ok {
		writeError(w, http.StatusConflict, nil, jsonrpc.CodeInvalidRequest, "conflict: this stream is already open on another connection", nil)
		return
	}
	defer st.detach(h)
	o := sseOptions{ids: true, retry: s.opts.Retry, keepAlive: keepAlive, kicked: h.kick}
	if st == ss.get {
		o.drain = s.drain
	}
	serveSSE(w, r, st, cursor, ss.done, o)
}

// deleteSession ends a session at the client's request, and its upstream
// with it.
func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	ss := s.lookup(w, r)
	if ss == nil {
		return
	}
	s.endSession(ss)
	w.WriteHeader(http.StatusNoContent)
}

// endSession ends a session and waits for its pump and upstream to stop.
func (s *Server) endSession(ss *session) {
	s.mu.Lock()
	if s.sessions[ss.id] == ss {
		delete(s.sessions, ss.id)
	}
	s.mu.Unlock()
	ss.end()
	<-ss.done
}
