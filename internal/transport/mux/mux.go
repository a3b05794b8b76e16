// Package mux shares one upstream MCP connection among many front sessions
// (tollgate run --shared-upstream, and the stateless 2026-07-28 requests of
// the HTTP front). Every request id a session sends is rewritten to an id
// unique on the upstream and restored on the response, progress tokens are
// rewritten the same way, and cancellations, progress and server requests
// are routed back to the session they belong to, so that sessions never see
// each other's responses, cancellations or progress.
//
// The upstream is initialized once: the first session's initialize goes
// upstream, its result is kept, and later sessions' initialize requests are
// answered from it (their notifications/initialized are not repeated).
package mux

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// maxQueue bounds the frames waiting for one session that has stopped
// reading; beyond it frames for that session are dropped, so that one stuck
// session cannot stall the upstream for every other.
const maxQueue = 16384

// Mux multiplexes sessions over one upstream transport.Conn. Create it with New;
// it reads the upstream from its own goroutine until the upstream ends or
// Close is called. Its methods are safe for concurrent use.
type Mux struct {
	up  transport.Conn
	log *slog.Logger

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	seq     int64
	calls   map[string]*call  // upstream id (decimal) → the session's request
	tokens  map[string]*token // upstream progress token (decimal) → session's token
	srvReqs map[string]*Conn  // canonical id of a server request → session it went to
	subs    map[string]map[*Conn]int
	init    initState
	closed  bool
	err     error

	done chan struct{} // closed when the read loop has ended
}

type call struct {
	c       *Conn
	orig    []byte // the session's raw id
	tok     string // upstream progress token, "" when none
	initReq bool
	listen  bool // subscriptions/listen: open for as long as the session wants
}

type token struct {
	c    *Conn
	orig []byte
}

// initState is the upstream's initialization, shared by every session.
type initState struct {
	result      []byte   // cached initialize result, nil until it succeeded
	inFlight    bool     // an initialize is upstream now
	waiting     []waiter // initialize requests that arrived meanwhile
	initialized bool     // notifications/initialized went upstream
}

type waiter struct {
	c  *Conn
	id []byte
}

// New starts multiplexing over up. The Mux owns up: Close closes it.
// logger may be nil.
func New(up transport.Conn, logger *slog.Logger) *Mux {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Mux{
		up:      up,
		log:     logger,
		conns:   make(map[*Conn]struct{}),
		calls:   make(map[string]*call),
		tokens:  make(map[string]*token),
		srvReqs: make(map[string]*Conn),
		subs:    make(map[string]map[*Conn]int),
		done:    make(chan struct{}),
	}
	go m.readLoop()
	return m
}

// Done is closed once the upstream has ended (or Close was called); Err
// then says why.
func (m *Mux) Done() <-chan struct{} { return m.done }

// Err returns why the upstream ended, nil while it runs or when it ended
// with io.EOF.
func (m *Mux) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// Close closes the upstream and every session attached to it, and waits for
// the read loop to end. It may be called more than once.
func (m *Mux) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	_ = m.up.Close()
	<-m.done
	return nil
}

// Attach returns a new session on the shared upstream. After the upstream
// ends, the Conn's Read returns io.EOF.
func (m *Mux) Attach() *Conn {
	c := &Conn{m: m, calls: make(map[string]string), wake: make(chan struct{}, 1), closed: make(chan struct{})}
	m.mu.Lock()
	if m.closed || isDone(m.done) {
		m.mu.Unlock()
		c.close()
		return c
	}
	m.conns[c] = struct{}{}
	m.mu.Unlock()
	return c
}

// Sessions returns the number of attached sessions.
func (m *Mux) Sessions() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.conns)
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Conn is one session's side of a Mux; it implements transport.Conn. Read
// returns the frames the upstream sent this session, with the session's own
// ids and progress tokens; Write sends a frame upstream with them rewritten.
type Conn struct {
	m *Mux

	// guarded by m.mu
	calls map[string]string // canonical own id → upstream id key

	qmu    sync.Mutex
	queue  [][]byte
	wake   chan struct{}
	closed chan struct{}
	once   sync.Once
}

var _ transport.Conn = (*Conn)(nil)

// Read returns the next frame for this session; see transport.Conn. The slice is
// owned by the caller.
func (c *Conn) Read() ([]byte, error) {
	for {
		c.qmu.Lock()
		if len(c.queue) > 0 {
			f := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			c.qmu.Unlock()
			return f, nil
		}
		c.qmu.Unlock()
		select {
		case <-c.wake:
		case <-c.closed:
			c.qmu.Lock()
			n := len(c.queue)
			c.qmu.Unlock()
			if n == 0 {
				return nil, io.EOF
			}
		}
	}
}

// deliver queues a frame (owned) for the session.
func (c *Conn) deliver(frame []byte) {
	if isDone(c.closed) {
		return
	}
	c.qmu.Lock()
	if len(c.queue) >= maxQueue {
		c.qmu.Unlock()
		c.m.log.Warn("mux: dropped a frame for a session that stopped reading")
		return
	}
	c.queue = append(c.queue, frame)
	c.qmu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Conn) close() { c.once.Do(func() { close(c.closed) }) }

// Close detaches the session: its requests still in flight upstream are
// cancelled and their answers dropped. It may be called more than once.
func (c *Conn) Close() error {
	m := c.m
	m.mu.Lock()
	_, attached := m.conns[c]
	delete(m.conns, c)
	var cancel []string
	for _, up := range c.calls {
		if cl := m.calls[up]; cl != nil {
			if cl.tok != "" {
				delete(m.tokens, cl.tok)
			}
			if !cl.initReq {
				cancel = append(cancel, up)
			}
		}
		delete(m.calls, up)
	}
	c.calls = map[string]string{}
	for id, owner := range m.srvReqs {
		if owner == c {
			delete(m.srvReqs, id)
		}
	}
	for uri, set := range m.subs {
		delete(set, c)
		if len(set) == 0 {
			delete(m.subs, uri)
		}
	}
	m.mu.Unlock()
	c.close()
	if attached {
		for _, up := range cancel {
			_ = m.up.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":` + up + `,"reason":"the session ended"}}`))
		}
	}
	return nil
}

// ErrDetached is returned by Write after the session was closed or the
// upstream ended.
var ErrDetached = errors.New("mux: session detached")

// Write sends one frame from the session upstream; see transport.Conn. A batch
// is sent as its elements, one by one.
func (c *Conn) Write(frame []byte) error {
	select {
	case <-c.closed:
		return fmt.Errorf("mux write: %w", ErrDetached)
	default:
	}
	if jsonrpc.IsBatch(frame) {
		elems, err := jsonrpc.SplitBatch(frame, false)
		if err != nil {
			return fmt.Errorf("mux write: %w", err)
		}
		for _, e := range elems {
			if err := c.write(e); err != nil {
				return err
			}
		}
		return nil
	}
	return c.write(frame)
}

func (c *Conn) write(frame []byte) error {
	msg, err := jsonrpc.Parse(frame, false)
	if err != nil {
		return fmt.Errorf("mux write: %w", err)
	}
	m := c.m
	switch {
	case msg.IsRequest():
		return c.request(msg)
	case msg.IsNotification():
		switch msg.Method {
		case "notifications/initialized":
			m.mu.Lock()
			first := !m.init.initialized
			m.init.initialized = true
			m.mu.Unlock()
			if !first {
				return nil
			}
		case "notifications/cancelled":
			rid := mcp.ParamsValue(msg.Params, "requestId")
			if rid == nil {
				return nil
			}
			m.mu.Lock()
			up, ok := c.calls[jsonrpc.IDKey(rid)]
			m.mu.Unlock()
			if !ok {
				return nil // not in flight (or not ours): nothing to cancel
			}
			frame = jsonrpc.ApplyEdits(frame, jsonrpc.Edit{Old: rid, Repl: []byte(up)})
		}
		return m.send(frame)
	default: // a response to a server request
		key := jsonrpc.IDKey(msg.ID)
		m.mu.Lock()
		owner := m.srvReqs[key]
		if owner == c {
			delete(m.srvReqs, key)
		}
		m.mu.Unlock()
		if owner != c {
			m.log.Debug("mux: dropped a response to a request this session was not sent", "id", string(msg.ID))
			return nil
		}
		return m.send(frame)
	}
}

func (m *Mux) send(frame []byte) error {
	if err := m.up.Write(frame); err != nil {
		return fmt.Errorf("mux write upstream: %w", err)
	}
	return nil
}

// request rewrites and forwards one request from session c.
func (c *Conn) request(msg jsonrpc.Message) error {
	m := c.m
	m.mu.Lock()
	if _, attached := m.conns[c]; !attached {
		m.mu.Unlock()
		return fmt.Errorf("mux write: %w", ErrDetached)
	}
	own := jsonrpc.IDKey(msg.ID)
	if _, dup := c.calls[own]; dup {
		m.mu.Unlock()
		c.deliver(jsonrpc.AppendError(nil, msg.ID, jsonrpc.CodeInvalidRequest, "invalid request: a request with this id is already in flight", nil))
		return nil
	}
	if msg.Method == mcp.MethodInitialize {
		switch {
		case m.init.result != nil:
			res := m.init.result
			m.mu.Unlock()
			c.deliver(jsonrpc.AppendResult(nil, msg.ID, res))
			return nil
		case m.init.inFlight:
			m.init.waiting = append(m.init.waiting, waiter{c: c, id: clone(msg.ID)})
			m.mu.Unlock()
			return nil
		}
		m.init.inFlight = true
	}
	if answer, ok := c.subscription(msg); ok {
		m.mu.Unlock()
		if answer != nil {
			c.deliver(answer)
		}
		return nil
	}
	m.seq++
	up := strconv.FormatInt(m.seq, 10)
	cl := &call{c: c, orig: clone(msg.ID), initReq: msg.Method == mcp.MethodInitialize,
		listen: msg.Method == mcp.MethodSubscriptionsListen}
	edits := []jsonrpc.Edit{{Old: msg.ID, Repl: []byte(up)}}
	if tok := mcp.MetaValue(msg.Params, "progressToken"); tok != nil {
		m.seq++
		cl.tok = strconv.FormatInt(m.seq, 10)
		m.tokens[cl.tok] = &token{c: c, orig: clone(tok)}
		edits = append(edits, jsonrpc.Edit{Old: tok, Repl: []byte(cl.tok)})
	}
	out := jsonrpc.ApplyEdits(msg.Raw, edits...)
	m.calls[up] = cl
	c.calls[own] = up
	m.mu.Unlock()
	return m.send(out)
}

// subscription keeps resources/subscribe and resources/unsubscribe counted
// per resource, so that one session's unsubscribe does not end another's
// updates: only the first subscribe and the last unsubscribe go upstream.
// It reports whether it handled msg; answer is what the session gets then.
// Called with m.mu held.
func (c *Conn) subscription(msg jsonrpc.Message) (answer []byte, handled bool) {
	m := c.m
	if msg.Method != "resources/subscribe" && msg.Method != "resources/unsubscribe" {
		return nil, false
	}
	uri, _ := jsonrpc.Unquote(mcp.ParamsValue(msg.Params, "uri"))
	set := m.subs[uri]
	if msg.Method == "resources/subscribe" {
		if set == nil {
			set = make(map[*Conn]int)
			m.subs[uri] = set
		}
		first := len(set) == 0
		set[c]++
		if first {
			return nil, false
		}
		return jsonrpc.AppendResult(nil, msg.ID, []byte("{}")), true
	}
	if set[c] > 0 {
		delete(set, c)
	}
	if len(set) == 0 {
		delete(m.subs, uri)
		return nil, false
	}
	return jsonrpc.AppendResult(nil, msg.ID, []byte("{}")), true
}

func (m *Mux) readLoop() {
	defer close(m.done)
	for {
		frame, err := m.up.Read()
		if err != nil {
			if errors.Is(err, jsonrpc.ErrFrameTooLarge) {
				m.log.Warn("mux: dropped an oversized message from the server", "err", err)
				continue
			}
			m.mu.Lock()
			if !errors.Is(err, io.EOF) && !errors.Is(err, transport.ErrClosed) && !m.closed {
				m.err = err
			}
			conns := m.conns
			m.conns = map[*Conn]struct{}{}
			m.mu.Unlock()
			for c := range conns {
				c.close()
			}
			return
		}
		if jsonrpc.IsBatch(frame) {
			elems, err := jsonrpc.SplitBatch(frame, false)
			if err != nil {
				m.log.Warn("mux: dropped an unreadable batch from the server", "err", err)
				continue
			}
			for _, e := range elems {
				m.fromServer(e)
			}
			continue
		}
		m.fromServer(frame)
	}
}

// fromServer routes one message from the upstream.
func (m *Mux) fromServer(frame []byte) {
	msg, err := jsonrpc.Parse(frame, false)
	if err != nil {
		m.log.Warn("mux: dropped a message from the server that is not JSON-RPC", "err", err)
		return
	}
	switch {
	case msg.IsResponse():
		m.response(msg)
	case msg.IsRequest():
		m.serverRequest(msg)
	default:
		m.notification(msg)
	}
}

func (m *Mux) response(msg jsonrpc.Message) {
	key := jsonrpc.MintedKey(msg.ID)
	m.mu.Lock()
	cl := m.calls[key]
	if cl == nil {
		m.mu.Unlock()
		m.log.Debug("mux: dropped a response nobody waits for", "id", string(msg.ID))
		return
	}
	delete(m.calls, key)
	delete(cl.c.calls, jsonrpc.IDKey(cl.orig))
	if cl.tok != "" {
		delete(m.tokens, cl.tok)
	}
	var waiting []waiter
	var result []byte
	if cl.initReq {
		m.init.inFlight = false
		if msg.Result != nil {
			result = clone(msg.Result)
			m.init.result = result
			waiting = m.init.waiting
			m.init.waiting = nil
		} else {
			// The upstream refused to initialize: every session that
			// waited for it gets the same answer.
			waiting = m.init.waiting
			m.init.waiting = nil
		}
	}
	m.mu.Unlock()
	edits := []jsonrpc.Edit{{Old: msg.ID, Repl: cl.orig}}
	if sub := mcp.MetaValue(msg.Result, mcp.MetaSubscriptionID); sub != nil && jsonrpc.MintedKey(sub) == key {
		// A subscription's closing answer names it by its id too.
		edits = append(edits, jsonrpc.Edit{Old: sub, Repl: cl.orig})
	}
	cl.c.deliver(jsonrpc.ApplyEdits(msg.Raw, edits...))
	for _, w := range waiting {
		if result != nil {
			w.c.deliver(jsonrpc.AppendResult(nil, w.id, result))
		} else {
			w.c.deliver(jsonrpc.ApplyEdits(msg.Raw, jsonrpc.Edit{Old: msg.ID, Repl: w.id}))
		}
	}
}

// target picks the session an unrelated server message belongs to: the
// only session with requests in flight, else the only session. An open
// subscriptions/listen does not count as a request in flight: it stays open
// while the session is idle, and its own notifications are tagged with it
// (see subscribed), so counting it would hand one session what the server
// sends for another's call. Called with m.mu held.
func (m *Mux) target() *Conn {
	var busy *Conn
	for _, cl := range m.calls {
		if cl.listen {
			continue
		}
		if busy != nil && cl.c != busy {
			return nil // several sessions wait: ambiguous
		}
		busy = cl.c
	}
	if busy != nil {
		return busy
	}
	if len(m.conns) == 1 {
		for c := range m.conns {
			return c
		}
	}
	return nil
}

func (m *Mux) serverRequest(msg jsonrpc.Message) {
	m.mu.Lock()
	c := m.target()
	if c != nil {
		m.srvReqs[jsonrpc.IDKey(msg.ID)] = c
	}
	n := len(m.conns)
	m.mu.Unlock()
	if c != nil {
		c.deliver(clone(msg.Raw))
		return
	}
	if msg.Method == "ping" {
		_ = m.send(jsonrpc.AppendResult(nil, msg.ID, []byte("{}")))
		return
	}
	m.log.Warn("mux: cannot tell which session a server request is for", "method", msg.Method, "sessions", n)
	_ = m.send(jsonrpc.AppendError(nil, msg.ID, jsonrpc.CodeInternalError,
		"tollgate: "+strconv.Itoa(n)+" sessions share this server and the request cannot be related to one of them", nil))
}

func (m *Mux) notification(msg jsonrpc.Message) {
	if sub := mcp.MetaValue(msg.Params, mcp.MetaSubscriptionID); sub != nil {
		m.subscribed(msg, sub)
		return
	}
	switch {
	case msg.Method == "notifications/progress":
		tok := mcp.ParamsValue(msg.Params, "progressToken")
		if tok == nil {
			return
		}
		m.mu.Lock()
		t := m.tokens[jsonrpc.MintedKey(tok)]
		m.mu.Unlock()
		if t == nil {
			m.log.Debug("mux: dropped progress for a finished request")
			return
		}
		t.c.deliver(jsonrpc.ApplyEdits(msg.Raw, jsonrpc.Edit{Old: tok, Repl: t.orig}))
	case msg.Method == "notifications/cancelled":
		rid := mcp.ParamsValue(msg.Params, "requestId")
		m.mu.Lock()
		c := m.srvReqs[jsonrpc.IDKey(rid)]
		delete(m.srvReqs, jsonrpc.IDKey(rid))
		m.mu.Unlock()
		if c != nil {
			c.deliver(clone(msg.Raw))
		}
	case strings.HasSuffix(msg.Method, "/list_changed"):
		m.mu.Lock()
		conns := make([]*Conn, 0, len(m.conns))
		for c := range m.conns {
			conns = append(conns, c)
		}
		m.mu.Unlock()
		for _, c := range conns {
			c.deliver(clone(msg.Raw))
		}
	case msg.Method == "notifications/resources/updated":
		uri, _ := jsonrpc.Unquote(mcp.ParamsValue(msg.Params, "uri"))
		m.mu.Lock()
		var conns []*Conn
		for c := range m.subs[uri] {
			conns = append(conns, c)
		}
		m.mu.Unlock()
		for _, c := range conns {
			c.deliver(clone(msg.Raw))
		}
	default:
		m.mu.Lock()
		c := m.target()
		m.mu.Unlock()
		if c == nil {
			m.log.Debug("mux: dropped a notification no session can be related to", "method", msg.Method)
			return
		}
		c.deliver(clone(msg.Raw))
	}
}

// subscribed routes a notification of a subscriptions/listen stream
// (2026-07-28): it is tagged with the id of the listen request, which is
// the mux's upstream id, so it goes to the session whose listen that is,
// tagged with the session's own id. One no open listen owns is dropped:
// it belongs to no session.
func (m *Mux) subscribed(msg jsonrpc.Message, sub []byte) {
	m.mu.Lock()
	cl := m.calls[jsonrpc.MintedKey(sub)]
	m.mu.Unlock()
	if cl == nil {
		m.log.Debug("mux: dropped a notification of a subscription no session has open", "method", msg.Method)
		return
	}
	cl.c.deliver(jsonrpc.ApplyEdits(msg.Raw, jsonrpc.Edit{Old: sub, Repl: cl.orig}))
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
