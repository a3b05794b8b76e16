// Package gateway serves many MCP servers behind one session: tools and
// prompts are namespaced (prefix, separator, the server's own name),
// resources keep their URIs and are routed by the server that listed them,
// request ids and progress tokens are rewritten on the way in and restored
// byte for byte on the way out, server→client requests are routed back to
// the server that sent them, and a server that fails or dies is restarted
// with backoff while the others keep working.
//
// Each server of a session is relayed by its own pump (proxy.Handler) under
// the server's own gate, with an in-memory pipe on its client side; the
// router reads the client's frames and writes each to the right pipe. A
// gateway-wide gate, when there is one, is one more pump between the client
// and the router, judging the namespaced names: every policy feature
// applies unchanged on both levels.
package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// Server is one server behind the gateway.
type Server struct {
	// Name identifies the server in logs, audit lines and errors.
	Name string
	// Prefix starts its tools' and prompts' namespaced names (Name when
	// empty, unless Bare).
	Prefix string
	// Bare serves the server's names as the server has them (a config's
	// prefix: ""). At most one server is bare; a name of its that another
	// server's prefix and separator start is left out of its lists (logged
	// as an error), so no name is ever shadowed.
	Bare bool
	// Gate judges the server's calls under its own policy, by the server's
	// own (un-namespaced) names.
	Gate proxy.Gate
	// Dial opens the server for one session (a child process, an HTTP
	// client).
	Dial transport.Dialer
}

// Options configure a Gateway.
type Options struct {
	// Separator joins a prefix and a name (DefaultSeparator when empty).
	Separator string
	// StartupTimeout bounds how long the client's initialize waits for
	// the servers (DefaultStartupTimeout when zero).
	StartupTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before a server is
	// started again (the defaults when zero).
	MinBackoff, MaxBackoff time.Duration
	// RequestTimeout bounds how long the gateway waits for a server to
	// answer a request of the gateway's own (initialize, a page of a
	// list): a server that hangs is left out of a merged list, and one
	// that does not initialize is started again. DefaultRequestTimeout
	// when zero.
	RequestTimeout time.Duration
	// Hub, when not nil, judges every call by its namespaced name before
	// it is routed (the gateway-wide policy).
	Hub proxy.Gate
	// Logger receives the gateway's log; nil discards.
	Logger *slog.Logger
	// After returns a channel that fires after d (time.After when nil);
	// tests inject a clock.
	After func(d time.Duration) <-chan time.Time
	// OnChange, when not nil, is told each time a server of a session
	// comes up or goes down (err says why it went down or failed).
	OnChange func(server string, up bool, err error)
	// CursorKey signs the cursors of merged lists (a random key when
	// empty). Gateways behind one load balancer need the same key, so that
	// a page asked of one continues a list another began.
	CursorKey []byte
}

// Gateway is the transport.Handler that serves many servers as one.
type Gateway struct {
	servers []*Server
	opts    Options
	key     []byte  // signs list cursors
	warm    []*warm // the servers kept running for one-shot sessions, as servers
}

var _ transport.Handler = (*Gateway)(nil)

// New checks the servers' prefixes and returns the gateway.
func New(servers []*Server, opts Options) (*Gateway, error) {
	if opts.Separator == "" {
		opts.Separator = DefaultSeparator
	}
	if opts.StartupTimeout <= 0 {
		opts.StartupTimeout = DefaultStartupTimeout
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.After == nil {
		opts.After = time.After
	}
	if len(servers) == 0 {
		return nil, errors.New("new gateway: no servers")
	}
	var bare *Server
	for i, a := range servers {
		if a.Gate == nil || a.Dial == nil {
			return nil, fmt.Errorf("new gateway: server %q has no gate or no dialer", a.Name)
		}
		if a.Bare {
			if bare != nil {
				return nil, fmt.Errorf("new gateway: servers %q and %q both have no prefix: at most one server may be unprefixed", bare.Name, a.Name)
			}
			bare = a
			a.Prefix = ""
			continue
		}
		if a.Prefix == "" {
			a.Prefix = a.Name
		}
		if strings.Contains(a.Prefix, opts.Separator) {
			return nil, fmt.Errorf("new gateway: server %q: its prefix %q contains the separator %q", a.Name, a.Prefix, opts.Separator)
		}
		for _, b := range servers[:i] {
			if b.Bare {
				continue
			}
			pa, pb := a.Prefix+opts.Separator, b.Prefix+opts.Separator
			if strings.HasPrefix(pa, pb) || strings.HasPrefix(pb, pa) {
				return nil, fmt.Errorf("new gateway: servers %q and %q collide: names starting %s and %s cannot be told apart", b.Name, a.Name, pb, pa)
			}
		}
	}
	key := opts.CursorKey
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	g := &Gateway{servers: servers, opts: opts, key: key}
	for _, srv := range servers {
		g.warm = append(g.warm, newWarm(g, srv))
	}
	return g, nil
}

// Close stops the servers kept running for stateless requests. Sessions
// still being served lose them; call it once the front has stopped.
func (g *Gateway) Close() error {
	for _, w := range g.warm {
		w.close()
	}
	return nil
}

// Backoff returns the delay before restart attempt n (0 first): MinBackoff
// doubled n times, capped at MaxBackoff.
func (g *Gateway) Backoff(n int) time.Duration {
	d := g.opts.MinBackoff
	for i := 0; i < n && d < g.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, g.opts.MaxBackoff)
}

// Serve implements transport.Handler: it serves one client session over
// every server. upstream is not used (each server is dialled by the
// gateway) and may be nil. It returns nil when the client ended the
// session, and ctx's error when ctx ended it.
func (g *Gateway) Serve(ctx context.Context, s *transport.Session, client, _ transport.Conn) error {
	if s == nil {
		s = &transport.Session{}
	}
	if g.opts.Hub == nil {
		return g.route(ctx, s, client)
	}
	routerEnd, hubEnd := pipe()
	routed := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { routed <- g.route(rctx, s, routerEnd) }()
	err := proxy.NewHandler(g.opts.Hub, g.opts.Logger).Serve(ctx, s, client, hubEnd)
	_ = hubEnd.Close()
	cancel()
	if rerr := <-routed; errors.Is(rerr, ErrCollision) {
		return rerr // the router ended the session: start-up failed
	}
	if errors.Is(err, proxy.ErrUpstreamClosed) {
		err = nil
	}
	return err
}

// NoUpstream is the transport.Dialer to give a front serving a Gateway: the
// gateway dials its servers itself, and the conn it returns only waits to be
// closed.
var NoUpstream transport.Dialer = transport.DialFunc(func(context.Context, *transport.Session) (transport.Conn, func(), error) {
	a, _ := pipe()
	return a, nil, nil
})

// namespace is what starts the namespaced names of srv's tools and prompts:
// its prefix and the separator, or nothing for a bare server.
func (g *Gateway) namespace(srv *Server) string {
	if srv.Bare {
		return ""
	}
	return srv.Prefix + g.opts.Separator
}

// shadows reports whether the bare server's name would read as another
// server's namespaced name.
func (g *Gateway) shadows(name string) bool {
	for _, o := range g.servers {
		if !o.Bare && strings.HasPrefix(name, o.Prefix+g.opts.Separator) {
			return true
		}
	}
	return false
}
