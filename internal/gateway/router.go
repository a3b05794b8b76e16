package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// session routes one client session among the gateway's servers.
type session struct {
	g     *Gateway
	ts    *transport.Session
	front transport.Conn // toward the client (or the gateway-wide pump)
	// frontKeeps: front is a pipe, which keeps the frames toClient gives
	// it; any other front copies what it keeps (transport.Conn).
	frontKeeps bool
	frontDefer transport.Deferrer // front's, when it batches (not a pipe)
	log        *slog.Logger
	ctx        context.Context
	fail       context.CancelCauseFunc // ends the session with an error (a start-up collision)
	links      []*link
	wg         sync.WaitGroup // goroutines answering the client (lists, initialize)

	mu        sync.Mutex
	seq       int64
	calls     seqTable[*call]          // gateway id → request in flight to a server
	clientIDs clientIDs                // client's id → gateway id
	asks      map[string]*ask          // gateway id → a server's request to the client
	subs      map[string]*subscription // IDKey(client's id) → its open subscriptions/listen
	tokens    map[string]*call         // gateway progress token → the request it was given to
	uris      map[string]*link         // resources by URI → the server that listed them
	templates []uriTemplate
	init      []byte        // the client's initialize params, nil before it
	started   bool          // links run (running says which)
	answered  atomic.Bool   // the client's initialize was answered (set under mu)
	version   string        // the revision the gateway answered initialize with
	settled   chan struct{} // signalled when a request in flight ends
}

// DrainTimeout bounds how long a session whose client input has ended
// waits for the servers to answer what they were asked.
const DrainTimeout = 10 * time.Second

// drain waits, at most DrainTimeout, for the answers to every request in
// flight (the client's, and the lists being gathered).
func (s *session) drain() {
	lists := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(lists)
	}()
	deadline := s.g.opts.After(DrainTimeout)
	for {
		s.mu.Lock()
		n := s.calls.len()
		s.mu.Unlock()
		if n == 0 {
			select {
			case <-lists:
				return
			default:
			}
		}
		select {
		case <-s.settled:
		case <-lists:
		case <-deadline:
			return
		case <-s.ctx.Done():
			return
		}
	}
}

// call is a request the router sent a server: the client's (clientID, and
// its progress token) or the router's own (reply).
type call struct {
	gid         int64
	clientToken []byte // the client's progress token, when it gave one
	link        *link
	clientID    []byte    // the client's id: in idBuf when it fits
	clientKey   clientKey // clientID's key in session.clientIDs
	idBuf       [24]byte
	token       string
	reply       chan []byte // the router's own request: receives the response
}

// ask is a server's request to the client, by the id the client sees.
type ask struct {
	link *link
	conn transport.Conn // the incarnation that asked
	orig []byte
}

// route serves one session on front until the client's input ends or ctx
// is done; it returns after every goroutine it started has ended.
func (g *Gateway) route(ctx context.Context, ts *transport.Session, front transport.Conn) error {
	ctx, cancel := context.WithCancelCause(ctx)
	_, keeps := front.(*pipeEnd)
	d, _ := front.(transport.Deferrer)
	if keeps {
		d = nil
	}
	s := &session{g: g, ts: ts, front: front, frontKeeps: keeps, frontDefer: d, log: g.opts.Logger, ctx: ctx, fail: cancel,
		clientIDs: newClientIDs(), asks: map[string]*ask{}, subs: map[string]*subscription{},
		tokens: map[string]*call{}, uris: map[string]*link{}, settled: make(chan struct{}, 1)}
	for i, srv := range g.servers {
		l := &link{s: s, srv: srv, ready: make(chan struct{})}
		if ts.OneShot {
			l.warm = g.warm[i] // a stateless request: the server is kept running
		}
		s.links = append(s.links, l)
	}
	var linksWG sync.WaitGroup
	defer func() {
		cancel(nil)
		linksWG.Wait()
		s.wg.Wait()
		_ = front.Close()
	}()
	stop := context.AfterFunc(ctx, func() { _ = front.Close() })
	defer stop()
	for {
		frame, err := front.Read()
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, transport.ErrClosed) {
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				s.drain()
				return nil
			}
			return err
		}
		if jsonrpc.IsBatch(frame) {
			s.mu.Lock()
			v := s.version
			s.mu.Unlock()
			if !mcp.SupportsBatch(v) {
				if v == "" {
					v = "not yet negotiated"
				}
				s.toClient(jsonrpc.AppendError(nil, nil, jsonrpc.CodeInvalidRequest,
					"invalid request: JSON-RPC batches are not allowed by protocol version "+v, nil))
				continue
			}
			elems, err := jsonrpc.SplitBatch(frame, false)
			if err != nil {
				s.toClient(jsonrpc.AppendError(nil, nil, jsonrpc.CodeInvalidRequest, "invalid request: unreadable batch", nil))
				continue
			}
			for _, e := range elems {
				s.fromClient(e, &linksWG)
			}
			continue
		}
		s.fromClient(frame, &linksWG)
	}
}

// toClient sends the client a frame the caller gives up (never one that
// aliases a buffer a Read will reuse).
func (s *session) toClient(frame []byte) {
	if err := writeOwned(s.front, frame); err != nil {
		s.log.Debug("gateway: write to the client failed", "err", err)
	}
}

// toClientDeferred is toClient within a burst of frames from one server:
// the front may hold it until flushClient (one system call for the burst).
func (s *session) toClientDeferred(frame []byte) {
	d := s.frontDefer
	if d == nil {
		s.toClient(frame)
		return
	}
	if err := d.WriteDeferred(frame); err != nil {
		s.log.Debug("gateway: write to the client failed", "err", err)
	}
}

// flushClient ends a burst: what toClientDeferred held is written.
func (s *session) flushClient() {
	if d := s.frontDefer; d != nil {
		if err := d.Flush(); err != nil {
			s.log.Debug("gateway: write to the client failed", "err", err)
		}
	}
}

// start runs the links once, with the client's initialize params: the
// links named, or every link when none is.
func (s *session) start(linksWG *sync.WaitGroup, only ...*link) {
	if only == nil {
		only = s.links
	}
	s.mu.Lock()
	s.started = true
	if s.init == nil {
		s.init = []byte(`{"protocolVersion":"` + mcp.Version20251125 + `","capabilities":{},"clientInfo":{"name":"tollgate-gateway","version":"1"}}`)
	}
	var run []*link
	for _, l := range only {
		if !l.running {
			l.running = true
			run = append(run, l)
		}
	}
	s.mu.Unlock()
	for _, l := range run {
		linksWG.Add(1)
		go func() {
			defer linksWG.Done()
			l.run(s.ctx)
		}()
	}
}

// target returns the one link a one-shot session's request needs (the
// server a tools/call or prompts/get names), nil when it needs them all or
// names none: a stateless request waits for no server it does not use.
func (s *session) target(m jsonrpc.Message) *link {
	if !s.ts.OneShot || (m.Method != mcp.MethodToolsCall && m.Method != mcp.MethodPromptsGet) {
		return nil
	}
	name, ok := jsonrpc.Unquote(mcp.ParamsValue(m.Params, "name"))
	if !ok {
		return nil
	}
	l, _ := s.split([]byte(name))
	return l
}

func (s *session) fromClient(frame []byte, linksWG *sync.WaitGroup) {
	// Read as the server's pump reads it (strictly), so that the pump is
	// given this parse with the frame and does not read it again; what
	// that refuses is read leniently, routed, and refused by the pump.
	m, err := jsonrpc.Parse(frame, true)
	strict := err == nil
	if !strict {
		m, err = jsonrpc.Parse(frame, false)
	}
	if err != nil {
		var rpcErr *jsonrpc.Error
		if errors.As(err, &rpcErr) {
			s.toClient(jsonrpc.AppendError(nil, rpcErr.ID, rpcErr.Code, rpcErr.Message, nil))
		}
		return
	}
	switch {
	case m.IsRequest():
		s.request(m, strict, linksWG)
	case m.IsNotification():
		s.notification(m)
	default:
		s.response(m)
	}
}

// request routes a client's request; strict says m is what
// jsonrpc.Parse(m.Raw, true) returned.
func (s *session) request(m jsonrpc.Message, strict bool, linksWG *sync.WaitGroup) {
	switch m.Method {
	case mcp.MethodInitialize, "ping":
	default:
		if _, known := routed[m.Method]; known && !s.answered.Load() {
			// A client that skipped initialize (a stateless request):
			// the servers start now, and the request waits for them as
			// an initialize would.
			if l := s.target(m); l != nil {
				s.start(linksWG, l)
				s.awaitStartup(l)
			} else {
				s.start(linksWG)
				s.awaitStartup()
			}
		}
	}
	switch m.Method {
	case mcp.MethodInitialize:
		s.mu.Lock()
		again := s.answered.Load()
		if !again && !s.started {
			s.init = clone(m.Params)
		}
		s.mu.Unlock()
		if again {
			s.toClient(jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidRequest, "invalid request: the session is already initialized", nil))
			return
		}
		s.start(linksWG)
		// Answered before the next message is read: what the client sends
		// next finds every server that made it within the startup bound.
		s.initialize(m.ID, m.Params)
	case "ping":
		s.toClient(jsonrpc.AppendResult(nil, m.ID, []byte("{}")))
	case mcp.MethodDiscover:
		s.discover(m.ID)
	case mcp.MethodSubscriptionsListen:
		s.listen(m)
	case mcp.MethodToolsList, "prompts/list", "resources/list", "resources/templates/list":
		msg := clone(m.Raw)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.list(msg)
		}()
	case mcp.MethodToolsCall, mcp.MethodPromptsGet:
		s.named(m, mcp.ParamsValue(m.Params, "name"), strict)
	case mcp.MethodResourcesRead, "resources/subscribe", "resources/unsubscribe":
		s.byURI(m, mcp.ParamsValue(m.Params, "uri"))
	case "completion/complete":
		ref := mcp.ParamsValue(m.Params, "ref")
		switch typ, _ := jsonrpc.Unquote(mcp.ParamsValue(ref, "type")); typ {
		case "ref/prompt":
			s.named(m, mcp.ParamsValue(ref, "name"), strict)
		case "ref/resource":
			s.byURI(m, mcp.ParamsValue(ref, "uri"))
		default:
			s.toClient(jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidParams, "invalid params: completion/complete needs a ref of type ref/prompt or ref/resource", nil))
		}
	case "logging/setLevel":
		// Answered once every server that is up has answered (each within
		// RequestTimeout), off the read loop: a client that sends a call
		// after the answer finds the level set on the server, whose log
		// messages for that call would otherwise be dropped. method, id and
		// params are copies the goroutine captures, not m: a captured m
		// would be moved to the heap on every request.
		method, id, params := m.Method, clone(m.ID), clone(m.Params)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			var servers sync.WaitGroup
			for _, l := range s.links {
				if conn := l.current(); conn != nil {
					servers.Go(func() { _, _ = s.own(l, conn, method, params) })
				}
			}
			servers.Wait()
			s.toClient(jsonrpc.AppendResult(nil, id, []byte("{}")))
		}()
	default:
		s.toClient(jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeMethodNotFound, "Method not found: "+m.Method, nil))
	}
}

// routed are the methods the router sends to servers.
var routed = map[string]struct{}{
	mcp.MethodDiscover: {}, mcp.MethodSubscriptionsListen: {},
	mcp.MethodToolsList: {}, "prompts/list": {}, "resources/list": {}, "resources/templates/list": {},
	mcp.MethodToolsCall: {}, mcp.MethodPromptsGet: {}, mcp.MethodResourcesRead: {},
	"resources/subscribe": {}, "resources/unsubscribe": {}, "completion/complete": {}, "logging/setLevel": {},
}

// split finds the server a namespaced name belongs to, and how long the
// prefix (with the separator) is that the server's own name lacks. Prefixes
// are such that at most one matches; a name no prefix starts belongs to the
// bare server, if there is one (which never lists a name a prefix starts).
func (s *session) split(name []byte) (*link, int) {
	var bare *link
	for _, l := range s.links {
		if l.srv.Bare {
			bare = l
			continue
		}
		p, sep := l.srv.Prefix, s.g.opts.Separator
		if n := len(p) + len(sep); len(name) > n && string(name[:len(p)]) == p && string(name[len(p):n]) == sep {
			return l, n
		}
	}
	if bare != nil && len(name) > 0 {
		return bare, 0
	}
	return nil, 0
}

// named routes a tools/call, prompts/get or prompt completion by the
// namespaced name raw (a JSON string inside m), which it rewrites to the
// server's own name.
func (s *session) named(m jsonrpc.Message, raw []byte, strict bool) {
	// The name as bytes: raw's own when it holds no escapes (the common
	// case, routed without copying it), else decoded.
	var name []byte
	plain := len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0
	if plain {
		name = raw[1 : len(raw)-1]
	} else {
		n, ok := jsonrpc.Unquote(raw)
		if !ok {
			s.toClient(jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidParams, "invalid params: name must be a string", nil))
			return
		}
		name = []byte(n)
	}
	l, cut := s.split(name)
	if l == nil || l.current() == nil {
		s.unknown(m, string(name))
		return
	}
	own := name[cut:]
	// The edit to the server's own name: cut the prefix out of the string,
	// or write the decoded name anew.
	edit := jsonrpc.Edit{}
	switch {
	case cut == 0:
	case plain:
		edit = jsonrpc.Edit{Old: raw[1 : 1+cut], Repl: []byte{}}
	default:
		edit = jsonrpc.Edit{Old: raw, Repl: jsonrpc.AppendString(nil, string(own))}
	}
	if m.Method == mcp.MethodToolsCall {
		switch l.lists(own) {
		case listedNo:
			s.unknown(m, string(name))
			return
		case listedUnknown:
			// The server's list is not known yet (or changed): read it,
			// off the read loop, then route.
			frame, ownName, fullName := clone(m.Raw), string(own), string(name)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.loadTools(l)
				m, err := jsonrpc.Parse(frame, false)
				if err != nil {
					return
				}
				if l.lists([]byte(ownName)) == listedNo {
					s.unknown(m, fullName)
					return
				}
				s.forward(l, m, false, jsonrpc.Edit{Old: mcp.ParamsValue(m.Params, "name"), Repl: jsonrpc.AppendString(nil, ownName)}, []byte(fullName))
			}()
			return
		}
	}
	s.forward(l, m, strict, edit, name)
}

// unknown answers a request for a name no server (that is up) has, as a
// server answers a tool or prompt it does not have.
func (s *session) unknown(m jsonrpc.Message, name string) {
	if m.Method == mcp.MethodToolsCall {
		s.toClient(mcp.AppendUnknownTool(nil, m.ID, name))
		return
	}
	s.toClient(jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidParams, "Unknown prompt: "+name, nil))
}

// byURI routes a resource request to the server that listed the URI (or
// whose template alone matches it); any other URI is refused.
func (s *session) byURI(m jsonrpc.Message, raw []byte) {
	uri, ok := jsonrpc.Unquote(raw)
	if !ok {
		s.toClient(jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidParams, "invalid params: uri must be a string", nil))
		return
	}
	l, seen := s.resourceOwner(uri)
	if l == nil && !seen {
		// No list of this session has named the URI yet (a client may read
		// a URI it learnt elsewhere): read the servers' resource lists, off
		// the read loop, then route by them. Each server's lists are read
		// once per incarnation (and again after it says they changed), so
		// made-up URIs cost no more reads.
		frame := clone(m.Raw)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for _, l := range s.links {
				s.loadResources(l)
			}
			m, err := jsonrpc.Parse(frame, false)
			if err != nil {
				return
			}
			l, _ := s.resourceOwner(uri)
			s.toOwner(l, m, uri)
		}()
		return
	}
	s.toOwner(l, m, uri)
}

// toOwner forwards a resource request to l, or refuses it when no server
// (that is up) owns its URI.
func (s *session) toOwner(l *link, m jsonrpc.Message, uri string) {
	if l == nil || l.current() == nil {
		s.toClient(jsonrpc.AppendError(nil, m.ID, -32002, "Resource not found: "+uri, nil))
		return
	}
	s.forward(l, m, false, jsonrpc.Edit{}, nil)
}

// resourceOwner returns the server that owns uri, and whether a list named
// it or a template matched it (seen with a nil link: it is ambiguous).
func (s *session) resourceOwner(uri string) (owner *link, seen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.uris[uri]; ok {
		return l, true // nil when two servers listed it
	}
	var found *link
	for _, t := range s.templates {
		if t.match(uri) {
			if found != nil && found != t.link {
				return nil, true
			}
			found = t.link
		}
	}
	return found, found != nil
}

// forward sends the client's request m to l under a gateway id, its
// progress token rewritten too, with extra (a name) edited in. strict says
// m is what jsonrpc.Parse(m.Raw, true) returned: the pump is given it,
// moved onto the edited frame.
func (s *session) forward(l *link, m jsonrpc.Message, strict bool, extra jsonrpc.Edit, name []byte) {
	conn := l.current()
	ck := keyOfClient(m.ID)
	s.mu.Lock()
	if _, dup := s.clientIDs.get(ck); dup {
		s.mu.Unlock()
		s.toClient(jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidRequest, "invalid request: a request with this id is already in flight", nil))
		return
	}
	s.seq++
	gid := s.seq
	var idBuf [20]byte
	rawGID := strconv.AppendInt(idBuf[:0], gid, 10)
	c := &call{gid: gid, link: l, clientKey: ck}
	if len(m.ID) <= len(c.idBuf) {
		c.clientID = append(c.idBuf[:0], m.ID...)
	} else {
		c.clientID = clone(m.ID)
	}
	edits := [3]jsonrpc.Edit{{Old: m.ID, Repl: rawGID}, extra}
	n := 2
	if !bytes.Contains(m.Params, progressTokenKey) {
		// No token to rewrite (the common case): no second walk of params.
	} else if tok := mcp.MetaValue(m.Params, "progressToken"); tok != nil {
		s.seq++
		c.token = strconv.FormatInt(s.seq, 10)
		c.clientToken = clone(tok)
		s.tokens[c.token] = c
		edits[n] = jsonrpc.Edit{Old: tok, Repl: []byte(c.token)}
		n++
	}
	s.calls.put(gid, c)
	s.clientIDs.put(ck, gid)
	s.mu.Unlock()
	if conn == nil || writeEdited(conn, m, strict, edits[:n]) != nil {
		if s.take(gid) != nil {
			if name != nil {
				s.unknown(m, string(name))
			} else {
				s.toClient(jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInternalError, "server "+l.srv.Name+" is not available", nil))
			}
		}
	}
}

// takeID removes and returns the call a response of l's server names by
// id: the gateway's id as the gateway wrote it (no allocation), or as a
// server re-spelt it. A call sent to another server is neither returned
// nor removed: a server answering under another's id (ids are sequential,
// easy to guess) must not take that server's answer from the client.
func (s *session) takeID(l *link, id []byte) *call {
	gid, ok := plainDecimal(id)
	if !ok {
		if gid, ok = plainDecimal([]byte(jsonrpc.MintedKey(id))); !ok {
			return nil
		}
	}
	return s.takeOn(l, gid)
}

// plainDecimal reads id as a decimal integer as the gateway writes its
// ids: digits, no leading zero, at most 18 of them.
func plainDecimal(id []byte) (int64, bool) {
	if len(id) == 0 || len(id) > 18 || id[0] == '0' {
		return 0, false
	}
	var n int64
	for _, c := range id {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

var progressTokenKey = []byte(`"progressToken"`)

// take removes and returns the call a gateway id names.
func (s *session) take(gid int64) *call { return s.takeOn(nil, gid) }

// takeOn is take of a call sent to l (any link when l is nil).
func (s *session) takeOn(l *link, gid int64) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, _ := s.calls.get(gid)
	if c == nil || (l != nil && c.link != l) {
		return nil
	}
	s.calls.del(gid)
	if c.clientID != nil {
		s.clientIDs.drop(c.clientKey)
	}
	if c.token != "" {
		delete(s.tokens, c.token)
	}
	select {
	case s.settled <- struct{}{}:
	default:
	}
	return c
}

// errNoAnswer is the error of a request of the gateway's own that its
// server did not answer in time.
var errNoAnswer = errors.New("no answer in time")

// own sends the router's own request to l's current incarnation conn and
// waits for the answer, at most RequestTimeout: result, or the error
// object as err.
func (s *session) own(l *link, conn transport.Conn, method string, params []byte) ([]byte, error) {
	return s.ownWithin(l, conn, method, params, s.g.opts.RequestTimeout)
}

// ownWithin is own, waiting at most wait.
func (s *session) ownWithin(l *link, conn transport.Conn, method string, params []byte, wait time.Duration) ([]byte, error) {
	s.mu.Lock()
	s.seq++
	gid := s.seq
	c := &call{gid: gid, link: l, reply: make(chan []byte, 1)}
	s.calls.put(gid, c)
	s.mu.Unlock()
	msg := strconv.AppendInt([]byte(`{"jsonrpc":"2.0","id":`), gid, 10)
	msg = append(msg, `,"method":`...)
	msg = jsonrpc.AppendString(msg, method)
	if params != nil {
		msg = append(msg, `,"params":`...)
		msg = append(msg, params...)
	}
	msg = append(msg, '}')
	if err := writeOwned(conn, msg); err != nil {
		s.take(gid)
		return nil, err
	}
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	select {
	case <-timeout.C:
		if s.take(gid) != nil {
			_ = conn.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":` + strconv.FormatInt(gid, 10) + `,"reason":"tollgate gateway: no answer in time"}}`))
		}
		return nil, fmt.Errorf("%s: server %s did not answer in %s: %w", method, l.srv.Name, wait, errNoAnswer)
	case frame, ok := <-c.reply:
		if !ok {
			return nil, errors.New(method + ": server " + l.srv.Name + " went away")
		}
		m, err := jsonrpc.Parse(frame, false)
		if err != nil {
			return nil, err
		}
		if m.Error != nil {
			return nil, errors.New(method + ": server " + l.srv.Name + " answered " + string(m.Error))
		}
		return m.Result, nil
	case <-s.ctx.Done():
		s.take(gid)
		return nil, s.ctx.Err()
	}
}

func (s *session) notification(m jsonrpc.Message) {
	switch m.Method {
	case "notifications/initialized":
		// Each server had its own from the router.
	case mcp.NotificationCancelled:
		rid := mcp.ParamsValue(m.Params, "requestId")
		if s.unlisten(rid) {
			return
		}
		var c *call
		s.mu.Lock()
		if gid, ok := s.clientIDs.get(keyOfClient(rid)); ok {
			c, _ = s.calls.get(gid)
		}
		s.mu.Unlock()
		if c == nil {
			return
		}
		if conn := c.link.current(); conn != nil {
			_ = writeOwned(conn, jsonrpc.ApplyEdits(m.Raw, jsonrpc.Edit{Old: rid, Repl: strconv.AppendInt(nil, c.gid, 10)}))
		}
		// The client expects no answer now: none is waited for (at the
		// end of the session), and one that comes is dropped.
		s.take(c.gid)
	case "notifications/roots/list_changed":
		for _, l := range s.links {
			if conn := l.current(); conn != nil {
				_ = conn.Write(m.Raw)
			}
		}
	default:
		s.log.Debug("gateway: dropped a client notification no server can be related to", "method", m.Method)
	}
}

// response routes the client's answer to a server's request back to that
// server, with the server's own id. An id the gateway did not issue, or
// issued for a server incarnation that has gone, is dropped.
func (s *session) response(m jsonrpc.Message) {
	key := jsonrpc.MintedKey(m.ID)
	s.mu.Lock()
	a := s.asks[key]
	delete(s.asks, key)
	s.mu.Unlock()
	if a == nil {
		s.log.Debug("gateway: dropped a response to a request the gateway did not send", "id", string(m.ID))
		return
	}
	if a.link.current() != a.conn {
		return
	}
	_ = writeOwned(a.conn, jsonrpc.ApplyEdits(m.Raw, jsonrpc.Edit{Old: m.ID, Repl: a.orig}))
}

// fromServer handles one frame from l's pump (toward the client), lent
// for the call: what is kept or written of it is a copy. id, when not nil,
// is the id of the response frame is, as the pump read it (a slice of
// frame): it is routed without parsing frame again.
func (s *session) fromServer(l *link, conn transport.Conn, frame, id []byte, burst bool, buf *[]byte) {
	if id != nil {
		s.serverResponse(l, frame, id, burst, buf)
		return
	}
	m, err := jsonrpc.Parse(frame, false)
	if err != nil {
		return
	}
	switch {
	case m.IsResponse():
		s.serverResponse(l, frame, m.ID, burst, nil)
	case m.IsRequest():
		s.mu.Lock()
		s.seq++
		gid := strconv.FormatInt(s.seq, 10)
		s.asks[gid] = &ask{link: l, conn: conn, orig: clone(m.ID)}
		s.mu.Unlock()
		s.toClient(jsonrpc.ApplyEdits(m.Raw, jsonrpc.Edit{Old: m.ID, Repl: []byte(gid)}))
	default:
		s.serverNotification(l, m)
	}
}

// serverResponse routes a response of l's server (frame, whose id is id)
// to the request it answers: the client's, with the client's id, or the
// router's own. buf, when not nil, is a buffer the client's frame may be
// built in (see lentEnd).
func (s *session) serverResponse(l *link, frame, id []byte, burst bool, buf *[]byte) {
	c := s.takeID(l, id)
	switch {
	case c == nil:
		s.log.Debug("gateway: dropped a response nobody waits for", "server", l.srv.Name)
	case c.reply != nil:
		c.reply <- clone(frame)
	case burst:
		s.toClientDeferred(s.restored(frame, jsonrpc.Edit{Old: id, Repl: c.clientID}, buf))
	default:
		s.toClient(s.restored(frame, jsonrpc.Edit{Old: id, Repl: c.clientID}, buf))
	}
}

// restored is frame with the client's id put back (e): built in buf when
// it is not nil and the front copies what it keeps (a pipe keeps the frame
// it is written), else in a new slice.
func (s *session) restored(frame []byte, e jsonrpc.Edit, buf *[]byte) []byte {
	if buf == nil || s.frontKeeps || len(frame) > maxRecycledSize {
		return jsonrpc.ApplyEdits(frame, e)
	}
	*buf = jsonrpc.AppendEdits((*buf)[:0], frame, e)
	return *buf
}

func (s *session) serverNotification(l *link, m jsonrpc.Message) {
	switch m.Method {
	case "notifications/progress":
		tok := mcp.ParamsValue(m.Params, "progressToken")
		s.mu.Lock()
		c := s.tokens[jsonrpc.MintedKey(tok)]
		s.mu.Unlock()
		// Only the server the request went to reports its progress.
		if c != nil && c.link == l {
			s.toClient(jsonrpc.ApplyEdits(m.Raw, jsonrpc.Edit{Old: tok, Repl: c.clientToken}))
		}
	case mcp.NotificationCancelled:
		// The server gave up one of its own requests to the client.
		rid := mcp.ParamsValue(m.Params, "requestId")
		s.mu.Lock()
		gid := ""
		for k, a := range s.asks {
			if a.link == l && jsonrpc.SameID(a.orig, rid) {
				gid = k
				delete(s.asks, k)
				break
			}
		}
		s.mu.Unlock()
		if gid != "" {
			s.toClient(jsonrpc.ApplyEdits(m.Raw, jsonrpc.Edit{Old: rid, Repl: []byte(gid)}))
		}
	case "notifications/initialized":
	case mcp.NotificationToolsListChanged:
		l.forgetTools()
		if l.warm != nil {
			l.warm.forget()
		}
		s.changed(listTools)
	case "notifications/resources/list_changed":
		l.forgetResources()
		s.changed(listResources)
	case "notifications/prompts/list_changed":
		s.changed(listPrompts)
	case "notifications/resources/updated":
		// Only from the server a read of the URI goes to: another server
		// must not make the client think a resource it does not own changed.
		uri, _ := jsonrpc.Unquote(mcp.ParamsValue(m.Params, "uri"))
		if owner, seen := s.resourceOwner(uri); seen && owner != l {
			s.log.Debug("gateway: dropped an update of a resource another server owns", "server", l.srv.Name, "uri", uri)
			return
		}
		fallthrough
	default:
		if err := s.front.Write(m.Raw); err != nil { // Write copies what it keeps: m.Raw is lent
			s.log.Debug("gateway: write to the client failed", "err", err)
		}
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}
