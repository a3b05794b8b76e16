package gateway

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// link is one server of one session: its current incarnation (upstream,
// pump, pipe) and the loop that starts it again when it ends.
type link struct {
	s    *session
	srv  *Server
	warm *warm // the server kept running, for a one-shot session; nil otherwise

	running bool // run was started (guarded by s.mu)

	mu     sync.Mutex
	conn   *pipeEnd                // the router's end of the pump's pipe; nil while down
	live   atomic.Pointer[pipeEnd] // conn, read without mu (current)
	result []byte                  // its initialize result
	gen    uint64                  // the warm server's incarnation conn is attached to
	gone   *pipeEnd                // the last incarnation retired, never made current again

	// The server's tool names as its pump lets the client see them (hidden
	// and held tools left out), for the incarnation known was read from:
	// a call to any other name is answered as an unknown tool by the
	// gateway itself, in the same words whatever hid it.
	load      sync.Mutex // one reader of the list at a time
	known     map[string]bool
	knownFrom *pipeEnd
	knownGen  uint64 // bumped when the server says its list changed
	// The incarnation whose resource lists were read into the session's
	// URI map (by loadResources), and the generation they were read at.
	resLoad sync.Mutex
	resFrom *pipeEnd
	resGen  uint64

	once  sync.Once
	ready chan struct{} // closed when the first attempt is over, up or not
}

// current returns the conn of the incarnation that is up, nil when down.
func (l *link) current() transport.Conn {
	if c := l.live.Load(); c != nil {
		return c
	}
	return nil
}

func (l *link) initResult() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		return nil
	}
	return l.result
}

// run starts the server, and starts it again with backoff whenever it fails
// or ends, until ctx is done.
func (l *link) run(ctx context.Context) {
	g := l.s.g
	defer l.once.Do(func() { close(l.ready) })
	for attempt := 0; ; attempt++ {
		upFor, err := l.incarnation(ctx)
		l.once.Do(func() { close(l.ready) })
		if ctx.Err() != nil {
			return
		}
		if upFor >= g.opts.MaxBackoff {
			attempt = 0 // it ran long enough: start the backoff over
		}
		d := g.Backoff(attempt)
		if l.warm != nil {
			// The warm server's state is the gateway's to report, once.
			l.s.log.Debug("gateway: server is down for a stateless request", "server", l.srv.Name, "err", err)
		} else {
			l.s.log.Warn("gateway: server is down; starting it again", "server", l.srv.Name, "err", err, "in", d)
			if g.opts.OnChange != nil {
				g.opts.OnChange(l.srv.Name, false, err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-g.opts.After(d):
		}
	}
}

// incarnation dials the server, relays it through a pump under its gate,
// initializes it with the client's parameters and serves until it ends.
// upFor is how long it served.
func (l *link) incarnation(ctx context.Context) (upFor time.Duration, err error) {
	s := l.s
	ts := &transport.Session{ID: s.ts.ID, Identity: s.ts.Identity}
	var (
		conn    transport.Conn
		release func()
		gen     uint64
	)
	if l.warm != nil {
		conn, gen, err = l.warm.attach(ctx)
	} else {
		conn, release, err = l.srv.Dial.Dial(ctx, ts)
	}
	if err != nil {
		return 0, err
	}
	// The pump keeps no frame past its next Read (transport.Conn): the
	// router writes its edited requests into the frames it gave back.
	routerEnd, pumpSide := recycledPipe()
	// What the pump writes reaches the router on the pump's goroutine.
	pumpEnd := &lentEnd{pipeEnd: pumpSide, flush: s.flushClient,
		deliver: func(frame, id []byte, burst bool, buf *[]byte) {
			s.fromServer(l, routerEnd, frame, id, burst, buf)
			if !burst {
				s.flushClient()
			}
		}}
	pctx, cancel := context.WithCancel(ctx)
	pumped := make(chan error, 1)
	go func() {
		pumped <- proxy.NewHandler(l.srv.Gate, s.log.With("server", l.srv.Name)).Serve(pctx, ts, pumpEnd, conn)
	}()
	defer func() {
		l.down(routerEnd)
		cancel()
		_ = routerEnd.Close()
		<-pumped
		_ = conn.Close()
		if release != nil {
			release()
		}
	}()

	inited := make(chan error, 1)
	go func() {
		if l.warm != nil {
			if res := l.warm.initResult(gen); res != nil {
				// The server kept running was initialized by an earlier
				// request: this one's pump relays without its own.
				l.up(routerEnd, res, gen)
				inited <- nil
				return
			}
		}
		s.mu.Lock()
		params := s.init
		s.mu.Unlock()
		wait := s.g.opts.RequestTimeout
		if l.warm != nil {
			// A server kept running answers a request's initialize from
			// the first one's: one that has not answered by the start-up
			// bound is hung, and holds up every stateless request.
			wait = min(wait, s.g.opts.StartupTimeout)
		}
		res, err := s.ownWithin(l, routerEnd, mcp.MethodInitialize, params, wait)
		if err == nil {
			err = routerEnd.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
		}
		if err == nil {
			l.up(routerEnd, res, gen)
		}
		inited <- err
	}()
	var started time.Time
	select {
	case err = <-inited:
		if err != nil {
			if l.warm != nil && errors.Is(err, errNoAnswer) {
				l.warm.hung(gen, err)
			}
			return 0, err
		}
		started = time.Now()
		l.once.Do(func() { close(l.ready) })
		if l.warm != nil {
			l.warm.initialized(gen, l.initResult())
		} else {
			if s.g.opts.OnChange != nil {
				s.g.opts.OnChange(l.srv.Name, true, nil)
			}
			s.log.Info("gateway: server is up", "server", l.srv.Name)
		}
	case err = <-pumped:
		pumped <- err // for the deferred wait
		if err == nil || errors.Is(err, proxy.ErrUpstreamClosed) {
			err = errors.New("the server ended before it was initialized")
		}
		return 0, err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	select {
	case err = <-pumped:
		pumped <- err
		if err == nil || errors.Is(err, proxy.ErrUpstreamClosed) {
			err = errors.New("the server ended")
		}
	case <-ctx.Done():
		err = ctx.Err()
	}
	return time.Since(started), err
}

// up makes an initialized incarnation current and tells the client when
// the server joins after the client's initialize was answered.
func (l *link) up(conn *pipeEnd, result []byte, gen uint64) {
	l.mu.Lock()
	if l.gone == conn {
		l.mu.Unlock()
		return
	}
	l.conn, l.result, l.gen = conn, clone(result), gen
	l.live.Store(conn)
	l.mu.Unlock()
	l.s.listsChanged(result)
}

// down retires an incarnation: requests still waiting on it are answered
// with an error, its server requests are forgotten, its resources unlisted,
// and the client is told its lists changed.
func (l *link) down(conn *pipeEnd) {
	l.mu.Lock()
	was := l.conn == conn
	result := l.result
	if was {
		l.conn, l.result = nil, nil
		l.live.Store(nil)
	}
	l.gone = conn
	l.mu.Unlock()
	s := l.s
	s.mu.Lock()
	var failed []*call
	s.calls.each(func(gid int64, c *call) {
		if c.link == l {
			s.calls.del(gid)
			if c.clientID != nil {
				s.clientIDs.drop(c.clientKey)
			}
			if c.token != "" {
				delete(s.tokens, c.token)
			}
			failed = append(failed, c)
		}
	})
	for k, a := range s.asks {
		if a.link == l {
			delete(s.asks, k)
		}
	}
	for uri, owner := range s.uris {
		if owner == l {
			delete(s.uris, uri)
		}
	}
	kept := s.templates[:0]
	for _, t := range s.templates {
		if t.link != l {
			kept = append(kept, t)
		}
	}
	s.templates = kept
	s.mu.Unlock()
	for _, c := range failed {
		if c.reply != nil {
			close(c.reply)
			continue
		}
		s.toClient(jsonrpc.AppendLost(nil, c.clientID, "server "+l.srv.Name+" closed the connection before answering"))
	}
	select {
	case s.settled <- struct{}{}:
	default:
	}
	if was && s.ctx.Err() == nil {
		s.listsChanged(result)
	}
}

// listsChanged tells the client that the lists a server with this
// initialize result offers have changed (it came or went).
func (s *session) listsChanged(initResult []byte) {
	caps := mcp.ParamsValue(initResult, "capabilities")
	s.changed(listTools)
	if mcp.ParamsValue(caps, "prompts") != nil {
		s.changed(listPrompts)
	}
	if mcp.ParamsValue(caps, "resources") != nil {
		s.changed(listResources)
	}
}

// listed says whether a name is in the server's list.
type listed uint8

const (
	listedUnknown listed = iota // the list has not been read (or changed)
	listedYes
	listedNo
)

func (l *link) lists(name []byte) listed {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.known == nil || l.knownFrom != l.conn {
		return listedUnknown
	}
	if l.known[string(name)] {
		return listedYes
	}
	return listedNo
}

func (l *link) forgetTools() {
	l.mu.Lock()
	l.known = nil
	l.knownGen++
	l.mu.Unlock()
}

func (l *link) forgetResources() {
	l.mu.Lock()
	l.resGen++
	l.resFrom = nil
	l.mu.Unlock()
}

// loadResources reads every page of the server's resources/list and
// resources/templates/list (through its pump) into the session's URI map,
// once per incarnation and list generation.
func (s *session) loadResources(l *link) {
	l.resLoad.Lock()
	defer l.resLoad.Unlock()
	l.mu.Lock()
	conn, gen := l.conn, l.resGen
	fresh := l.resFrom != nil && l.resFrom == conn
	l.mu.Unlock()
	if conn == nil || fresh {
		return
	}
	for _, method := range []string{"resources/list", "resources/templates/list"} {
		if !l.offers(method) {
			continue
		}
		array := listKinds[method].array
		cursor := ""
		for range maxListPages {
			params := []byte("{}")
			if cursor != "" {
				params = append(jsonrpc.AppendString([]byte(`{"cursor":`), cursor), '}')
			}
			res, err := s.own(l, conn, method, params)
			if err != nil {
				s.log.Warn("gateway: could not read a server's resource list", "server", l.srv.Name, "method", method, "err", err)
				return
			}
			if _, err := jsonrpc.ArrayMember(res, array, func(item []byte) error {
				s.noteResource(l, method, item)
				return nil
			}); err != nil {
				s.log.Warn("gateway: could not read a server's resource list", "server", l.srv.Name, "method", method, "err", err)
				return
			}
			cursor, _ = jsonrpc.Unquote(mcp.ParamsValue(res, "nextCursor"))
			if cursor == "" {
				break
			}
		}
	}
	l.mu.Lock()
	if l.resGen == gen && l.conn == conn {
		l.resFrom = conn
	}
	l.mu.Unlock()
}

// maxListPages bounds the pages read to learn a server's tool names.
const maxListPages = 1000

// loadTools reads every page of the server's tools/list (through its pump,
// so under its policy) and keeps the names. On failure the list stays
// unknown and calls go to the server, which answers them itself.
func (s *session) loadTools(l *link) {
	l.load.Lock()
	defer l.load.Unlock()
	l.mu.Lock()
	conn, gen, incarnation := l.conn, l.knownGen, l.gen
	fresh := l.known != nil && l.knownFrom == conn
	l.mu.Unlock()
	if conn == nil || fresh {
		return
	}
	var epoch uint64
	if l.warm != nil {
		// A one-shot session: the names another read moments ago serve.
		if names := l.warm.names(incarnation); names != nil {
			l.mu.Lock()
			if l.knownGen == gen && l.conn == conn {
				l.known, l.knownFrom = names, conn
			}
			l.mu.Unlock()
			return
		}
		epoch = l.warm.epoch()
	}
	names := map[string]bool{}
	cursor := ""
	for range maxListPages {
		params := []byte("{}")
		if cursor != "" {
			params = append(jsonrpc.AppendString([]byte(`{"cursor":`), cursor), '}')
		}
		res, err := s.own(l, conn, mcp.MethodToolsList, params)
		if err != nil {
			s.log.Warn("gateway: could not read a server's tool list", "server", l.srv.Name, "err", err)
			return
		}
		_, err = jsonrpc.ArrayMember(res, "tools", func(tool []byte) error {
			if n, ok := jsonrpc.Unquote(mcp.ParamsValue(tool, "name")); ok {
				names[n] = true
			}
			return nil
		})
		if err != nil {
			s.log.Warn("gateway: could not read a server's tool list", "server", l.srv.Name, "err", err)
			return
		}
		cursor, _ = jsonrpc.Unquote(mcp.ParamsValue(res, "nextCursor"))
		if cursor == "" {
			break
		}
	}
	l.mu.Lock()
	if l.knownGen == gen && l.conn == conn {
		l.known, l.knownFrom = names, conn
	}
	l.mu.Unlock()
	if l.warm != nil {
		l.warm.keep(incarnation, epoch, names)
	}
}
