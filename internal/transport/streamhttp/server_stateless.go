package streamhttp

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// statelessPost serves one 2026-07-28 request: its Mcp-* headers are
// checked against the body, then it runs through a pump of its own over
// the shared stateless upstream, and its answer (with the notifications
// that relate to it) is the response. Closing the response stream cancels
// the request upstream.
func (s *Server) statelessPost(w http.ResponseWriter, r *http.Request, body []byte, p *parsed, wantSSE bool) {
	if p.batch {
		writeError(w, http.StatusBadRequest, nil, jsonrpc.CodeInvalidRequest, "invalid request: protocol version 2026-07-28 has no JSON-RPC batches", nil)
		return
	}
	m := p.msgs[0]
	switch {
	case m.IsResponse():
		writeError(w, http.StatusBadRequest, m.ID, jsonrpc.CodeInvalidRequest, "invalid request: a 2026-07-28 client sends no responses", nil)
		return
	case m.IsNotification():
		s.statelessNotification(w, r, body)
		return
	}
	if m.Method == mcp.MethodSubscriptionsListen && !wantSSE {
		// A subscription is an event stream or nothing: a client that takes
		// only JSON would wait for an answer that comes when it ends.
		writeError(w, http.StatusNotAcceptable, m.ID, jsonrpc.CodeInvalidRequest, "not acceptable: subscriptions/listen is answered with an event stream; Accept must list text/event-stream", nil)
		return
	}
	if msg := checkHeaders(r, &m, &s.params); msg != "" {
		writeError(w, http.StatusBadRequest, m.ID, CodeHeaderMismatch, "header mismatch: "+msg, nil)
		return
	}
	up, _, err := s.stateless.Dial(s.ctx, nil)
	if err != nil {
		s.log.Error("http front: opening the upstream failed", "err", err)
		writeError(w, http.StatusBadGateway, m.ID, jsonrpc.CodeInternalError, "bad gateway: the upstream server could not be started", nil)
		return
	}
	identity := s.identity(r)
	st := newStream(1, !wantSSE)
	front := &oneShot{frame: body, id: jsonrpc.IDKey(m.ID), st: st, gone: make(chan struct{})}
	session := &transport.Session{ID: statelessSessionID(identity), Identity: identity, OneShot: true}
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		_ = s.opts.Handler.Serve(s.ctx, session, front, up)
	}()
	complete := false
	if wantSSE {
		o := sseOptions{hold: postHold}
		if m.Method == mcp.MethodSubscriptionsListen {
			// The stream of a subscription stays open until the client
			// closes it: comments keep idle intermediaries from closing
			// it first (basic/transports/streamable-http).
			o.keepAlive, o.drain = DefaultKeepAlive, s.drain
		}
		complete = serveSSE(w, r, st, 0, done, o)
	} else {
		s.answerJSON(w, r, st, done, nil)
		complete = st.isFinal()
	}
	if !complete {
		front.abandon() // the client went away: cancel the request upstream
		return
	}
	if m.Method == mcp.MethodToolsList {
		// Learn the tools' x-mcp-header annotations, to check the
		// Mcp-Param headers of later calls.
		s.params.learn(st.finalAnswer())
	}
}

// statelessNotification answers a 2026-07-28 notification with 202. Without
// a session there is nothing it can refer to, so nothing of it goes
// upstream; but it goes through a pump like every other client message,
// so that the gate sees it: a tools/call sent as a notification is judged,
// audited and dropped there, as on every other transport.
func (s *Server) statelessNotification(w http.ResponseWriter, r *http.Request, body []byte) {
	identity := s.identity(r)
	session := &transport.Session{ID: statelessSessionID(identity), Identity: identity, OneShot: true}
	_ = s.opts.Handler.Serve(s.ctx, session, &oneShot{frame: body, gone: make(chan struct{})}, newNowhere())
	w.WriteHeader(http.StatusAccepted)
}

// nowhere is the server side of a pump whose messages go nowhere: Write
// discards, Read waits for Close.
type nowhere struct {
	closed chan struct{}
	once   sync.Once
}

var _ transport.Conn = (*nowhere)(nil)

func newNowhere() *nowhere { return &nowhere{closed: make(chan struct{})} }

func (n *nowhere) Read() ([]byte, error) {
	<-n.closed
	return nil, io.EOF
}

func (n *nowhere) Write([]byte) error { return nil }

func (n *nowhere) Close() error {
	n.once.Do(func() { close(n.closed) })
	return nil
}

// statelessSessionID is the session a 2026-07-28 request is counted under
// for `per: session` limits and in the audit trail. The revision has no
// sessions, and a client could make each request its own: so the caller's
// identity stands for the session, and callers without one share one
// session. The "stateless" prefix keeps it apart from every initialize-era
// session id (random base32, no colon).
func statelessSessionID(identity string) string {
	if identity == "" {
		return "stateless"
	}
	return "stateless:" + identity
}

// checkHeaders compares a 2026-07-28 request's MCP-Protocol-Version,
// Mcp-Method and Mcp-Name headers, and a tools/call's Mcp-Param headers
// for the annotations in params, with its body; it returns what is wrong,
// "" when they agree.
func checkHeaders(r *http.Request, m *jsonrpc.Message, params *toolParams) string {
	one := func(name string) (string, string) {
		v := r.Header.Values(name)
		switch len(v) {
		case 0:
			return "", "missing " + name + " header"
		case 1:
			return v[0], ""
		}
		return "", "more than one " + name + " header"
	}
	pv, bad := one(HeaderProtocolVersion)
	if bad != "" {
		return bad
	}
	if bv := mcp.MetaString(m.Params, mcp.MetaProtocolVersion); bv != pv {
		return fmt.Sprintf("MCP-Protocol-Version header %s does not match the body's _meta %s %s", quote(pv), mcp.MetaProtocolVersion, quote(bv))
	}
	method, bad := one(HeaderMethod)
	if bad != "" {
		return bad
	}
	if method != m.Method {
		return fmt.Sprintf("Mcp-Method header %s does not match the body's method %s", quote(method), quote(m.Method))
	}
	key := ""
	switch {
	case m.Method == mcp.MethodToolsCall || m.Method == mcp.MethodPromptsGet:
		key = "name"
	case m.Method == mcp.MethodResourcesRead:
		key = "uri"
	case mcp.IsTaskMethod(m.Method) && len(r.Header.Values(HeaderName)) > 0:
		// The tasks extension routes by Mcp-Name = params.taskId: what
		// routed the request must be the task the body names.
		key = "taskId"
	default:
		return ""
	}
	raw, bad := one(HeaderName)
	if bad != "" {
		return bad
	}
	name, ok := decodeHeaderValue(raw)
	if !ok {
		return "Mcp-Name header is not valid base64 between =?base64? and ?="
	}
	body, _ := jsonrpc.Unquote(mcp.ParamsValue(m.Params, key))
	if name != body {
		return fmt.Sprintf("Mcp-Name header %s does not match the body's params.%s %s", quote(name), key, quote(body))
	}
	if m.Method == mcp.MethodToolsCall {
		return checkParamHeaders(r.Header, mcp.ParamsValue(m.Params, "arguments"), params.get(name))
	}
	return ""
}

// decodeHeaderValue undoes the =?base64?…?= encoding of an Mcp-Name or
// Mcp-Param value.
func decodeHeaderValue(v string) (string, bool) {
	if !strings.HasPrefix(v, "=?base64?") || !strings.HasSuffix(v, "?=") || len(v) < len("=?base64??=") {
		return v, true
	}
	b, err := base64.StdEncoding.DecodeString(v[len("=?base64?") : len(v)-len("?=")])
	if err != nil {
		return "", false
	}
	return string(b), true
}

// oneShot is the pump's Client side for one stateless request: Read yields
// the request, then io.EOF once it is answered or abandoned. For a
// notification (st nil) the second Read is io.EOF at once.
type oneShot struct {
	frame []byte
	id    string  // canonical request id
	st    *stream // nil for a notification

	mu   sync.Mutex
	read bool
	gone chan struct{}
	once sync.Once
}

var _ transport.Conn = (*oneShot)(nil)

func (o *oneShot) Read() ([]byte, error) {
	o.mu.Lock()
	first := !o.read
	o.read = true
	o.mu.Unlock()
	if first {
		return o.frame, nil
	}
	if o.st == nil {
		return nil, io.EOF
	}
	select {
	case <-o.st.finished:
	case <-o.gone:
	}
	return nil, io.EOF
}

// Write puts the answer, and anything the server says meanwhile, on the
// request's stream.
func (o *oneShot) Write(frame []byte) error {
	if o.st == nil {
		return nil
	}
	m, err := jsonrpc.Parse(frame, false)
	if err != nil {
		return nil
	}
	final := m.IsResponse() && (string(m.ID) == "null" || jsonrpc.IDKey(m.ID) == o.id)
	o.st.push(frame, final)
	return nil
}

// abandon ends the request early; the mux cancels it upstream.
func (o *oneShot) abandon() { o.once.Do(func() { close(o.gone) }) }

func (o *oneShot) Close() error {
	o.abandon()
	return nil
}
