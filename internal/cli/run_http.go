package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os/signal"
	"strconv"
	"strings"

	"syscall"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/auth"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"

	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/mux"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
	"github.com/tollgate-mcp/tollgate/internal/transport/streamhttp"
)

// httpFlags are tollgate run's flags for serving MCP clients over HTTP
// (--listen) instead of on stdin/stdout.
type httpFlags struct {
	listen          string
	transport       string // Intercept: stdio, http or sse
	bind            string // Intercept
	port            int    // Intercept
	allowOrigins    listFlag
	sharedUpstream  bool
	sessionTimeout  time.Duration
	shutdownTimeout time.Duration
	publicURL       string
	apiKeys         string
	jwtJWKS         string
	jwtIssuer       string
	jwtAudience     string
	tlsCert         string
	tlsKey          string

	// handler, when set (tollgate gateway), serves every session in place
	// of the policy gate's pump, and dials its servers itself: the front
	// dials no upstream: it dials dialer (whose conns the handler ignores).
	handler transport.Handler
	dialer  transport.Dialer
}

// scheme is the front's URL scheme: https with --tls-cert.
func (f *httpFlags) scheme() string {
	if f.tlsCert != "" {
		return "https"
	}
	return "http"
}

func (f *httpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "listen", "", "serve MCP clients over streamable HTTP at http://ADDR/mcp (and legacy SSE at /sse), e.g. 127.0.0.1:8080")
	fs.StringVar(&f.transport, "transport", "stdio", "Intercept's name: stdio, or http/sse to serve HTTP on --bind and --port")
	fs.StringVar(&f.bind, "bind", "127.0.0.1", "Intercept's name: the address --transport http listens on")
	fs.IntVar(&f.port, "port", 8080, "Intercept's name: the port --transport http listens on")
	fs.Var(&f.allowOrigins, "allow-origin", "allow browser requests from this Origin (scheme://host[:port], or *); repeatable or comma-separated; also allows its host in the Host header")
	fs.BoolVar(&f.sharedUpstream, "shared-upstream", false, "with --listen: one upstream server shared by all HTTP sessions (ids remapped) instead of one per session")
	fs.DurationVar(&f.sessionTimeout, "session-timeout", streamhttp.DefaultSessionTimeout, "with --listen: end HTTP sessions idle this long (and their servers)")
	fs.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 10*time.Second, "with --listen: on SIGINT/SIGTERM, how long calls in flight may take to finish")
	fs.StringVar(&f.publicURL, "public-url", "", "with --listen: the URL clients use for the MCP endpoint, when not http://ADDR/mcp (behind a reverse proxy); names the resource in OAuth metadata")
	fs.StringVar(&f.apiKeys, "api-keys", "", "with --listen: require an API key from this key file (written by tollgate keys add)")
	fs.StringVar(&f.jwtJWKS, "jwt-jwks", "", "with --listen: accept bearer JWTs signed by a key of this JWKS (URL or file)")
	fs.StringVar(&f.jwtIssuer, "jwt-issuer", "", "with --jwt-jwks: the required iss claim (also named as the authorization server in the metadata)")
	fs.StringVar(&f.jwtAudience, "jwt-audience", "", "with --jwt-jwks: a required aud value (the resource URL by default)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "with --listen: serve HTTPS with this certificate (PEM file; intermediates after the leaf); needs --tls-key")
	fs.StringVar(&f.tlsKey, "tls-key", "", "with --tls-cert: the certificate's private key (PEM file)")
}

// listFlag collects repeatable, comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// enabled reports whether the flags ask for the HTTP front.
func (f *httpFlags) enabled() bool {
	return f.listen != "" || f.transport != "stdio" // a bad --transport is reported by addr
}

// addr returns the address to listen on.
func (f *httpFlags) addr() (string, error) {
	switch f.transport {
	case "stdio", "http", "sse":
	default:
		return "", fmt.Errorf("--transport must be stdio, http or sse, not %q", f.transport)
	}
	if f.listen != "" {
		if _, _, err := net.SplitHostPort(f.listen); err != nil {
			return "", fmt.Errorf("--listen %q: want HOST:PORT, e.g. 127.0.0.1:8080", f.listen)
		}
		return f.listen, nil
	}
	return net.JoinHostPort(f.bind, strconv.Itoa(f.port)), nil
}

// httpFront is everything behind the HTTP listener.
type httpFront struct {
	handler http.Handler
	mcp     *streamhttp.Server
	legacy  *sse.Server
	close   func() // stops shared upstreams
}

// Close ends every session and stops every upstream.
func (h *httpFront) Close() {
	h.mcp.Close()
	h.legacy.Close()
	h.close()
}

// Drain lets http.Server.Shutdown finish without waiting for idle streams.
func (h *httpFront) Drain() {
	h.mcp.Drain()
	h.legacy.Drain()
}

// newHTTPFront assembles the HTTP front for addr (the address listened on,
// with its real port): upstreams, the MCP endpoint, legacy SSE, OAuth
// metadata, authentication and the Origin/Host guard.
func newHTTPFront(ctx context.Context, e env, f *runFlags, g *gate.Gate, logger *slog.Logger, argv []string, addr string) (*httpFront, error) {
	upstream, closeUp, err := upstreamDialer(f, e, logger, argv)
	var handler transport.Handler = proxy.NewHandler(g, logger)
	if f.http.handler != nil {
		handler = f.http.handler
	}
	if err != nil {
		return nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	loopback := host == "localhost" || (ip != nil && ip.IsLoopback())
	mcpURL := f.http.publicURL
	if mcpURL == "" {
		mcpURL = f.http.scheme() + "://" + addr + "/mcp"
	}

	var identity func(*http.Request) string
	var middleware *auth.Middleware
	if f.http.apiKeys != "" || f.http.jwtJWKS != "" {
		middleware = &auth.Middleware{
			ResourceMetadata: func(r *http.Request) string { return metadataURL(f, r) },
			OnFailure: func(r *http.Request, err error) {
				logger.Info("http front: refused a request without a valid credential", "remote", r.RemoteAddr, "err", err)
			},
		}
		if f.http.apiKeys != "" {
			keys, err := auth.LoadKeys(f.http.apiKeys)
			if err != nil {
				closeUp()
				return nil, err
			}
			middleware.Verifiers = append(middleware.Verifiers, keys)
		}
		if f.http.jwtJWKS != "" {
			aud := f.http.jwtAudience
			if aud == "" {
				aud = mcpURL
			}
			j, err := auth.NewJWT(ctx, auth.JWTOptions{JWKS: f.http.jwtJWKS, Issuer: f.http.jwtIssuer, Audience: aud})
			if err != nil {
				closeUp()
				return nil, err
			}
			middleware.Verifiers = append(middleware.Verifiers, j)
		}
		identity = auth.Identity
	} else if f.identity != "" {
		id := f.identity
		identity = func(*http.Request) string { return id }
	}

	front := streamhttp.NewServer(streamhttp.ServerOptions{
		Upstream:       upstream,
		Handler:        handler,
		Logger:         logger,
		MaxMessageSize: f.maxMessage,
		Identity:       identity,
		SessionTimeout: f.http.sessionTimeout,
	})
	legacy := sse.NewServer(sse.ServerOptions{
		Upstream:       upstream,
		Handler:        handler,
		Logger:         logger,
		MaxMessageSize: f.maxMessage,
		Identity:       identity,
		MessagePath:    "/message",
	})

	protected := http.NewServeMux()
	protected.Handle("/mcp", front)
	protected.Handle("/sse", legacy)
	protected.Handle("/message", legacy)
	var inner http.Handler = protected
	if middleware != nil {
		inner = middleware.Wrap(protected)
	}
	root := http.NewServeMux()
	root.Handle("/", inner)
	if middleware != nil {
		md := auth.ResourceMetadata{ResourceName: "Tollgate MCP endpoint"}
		if f.http.jwtIssuer != "" {
			md.AuthorizationServers = []string{f.http.jwtIssuer}
		}
		h := md.Handler(func(r *http.Request) string { return resourceURL(f, r) })
		root.Handle(auth.MetadataPath, h)
		root.Handle(auth.MetadataPath+"/mcp", h)
	}
	origins, err := newOriginCheck(f.http.scheme(), addr, f.http.allowOrigins)
	if err != nil {
		closeUp()
		return nil, err
	}
	guard := &auth.Guard{Port: port, Loopback: loopback, Origins: f.http.allowOrigins}
	return &httpFront{handler: origins.wrap(guard.Wrap(root)), mcp: front, legacy: legacy, close: closeUp}, nil
}

// originCheck admits a request whose Origin header is, byte for byte, one
// of the front's own origins or one given with --allow-origin; a request
// without Origin (not from a browser) passes. It is stricter than the
// auth.Guard behind it, which admits any loopback name on the port: a page
// on http://127.0.0.2:PORT or http://localhost.:PORT is served by someone
// else, or by nobody, and must not drive the tools.
type originCheck struct {
	any   bool            // --allow-origin '*'
	exact map[string]bool // serialized origins, as a browser sends them
}

// newOriginCheck returns the check for a front listening on addr (an IP
// literal and a port, as the listener reports it) with scheme. Its own
// origins are scheme://HOST[:PORT] (the port left out when it is the
// scheme's default, as browsers write it) for these hosts: the listen
// address itself when it is a loopback address; localhost as well when
// that is 127.0.0.1 or ::1; localhost and 127.0.0.1 on 0.0.0.0, and [::1]
// as well on ::. Any other address has no own origin: a browser page
// reaching it must be named with --allow-origin.
func newOriginCheck(scheme, addr string, allowed []string) (*originCheck, error) {
	c := &originCheck{exact: make(map[string]bool)}
	for _, o := range allowed {
		if o == "*" {
			c.any = true
			continue
		}
		n, err := normalizeOrigin(o)
		if err != nil {
			return nil, err
		}
		c.exact[n] = true
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("origin check: listen address %q: %w", addr, err)
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	} else {
		port = ":" + port
	}
	for _, h := range ownHosts(net.ParseIP(host)) {
		c.exact[scheme+"://"+h+port] = true
	}
	return c, nil
}

// ownHosts returns the host forms of the front's own origins when it
// listens on ip (see newOriginCheck).
func ownHosts(ip net.IP) []string {
	switch {
	case ip == nil:
		return nil
	case ip.Equal(net.IPv4(127, 0, 0, 1)):
		return []string{"localhost", "127.0.0.1"}
	case ip.Equal(net.IPv6loopback):
		return []string{"localhost", "[::1]"}
	case ip.IsLoopback():
		return []string{ip.String()}
	case ip.Equal(net.IPv4zero):
		return []string{"localhost", "127.0.0.1"}
	case ip.Equal(net.IPv6unspecified):
		return []string{"localhost", "127.0.0.1", "[::1]"}
	}
	return nil
}

// normalizeOrigin checks an --allow-origin value and writes it as a browser
// serializes an origin: scheme and host in lower case, no default port, no
// path.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil {
		return "", fmt.Errorf("--allow-origin %q: %w", o, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.Opaque != "" ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("--allow-origin %q: want scheme://host[:port] with scheme http or https (or *)", o)
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	if port != "" {
		host += ":" + port
	}
	return strings.ToLower(u.Scheme) + "://" + host, nil
}

// allowed reports whether a request's Origin headers admit it.
func (c *originCheck) allowed(r *http.Request) bool {
	o := r.Header.Values("Origin")
	switch {
	case len(o) == 0:
		return true
	case len(o) > 1:
		return false
	}
	return c.any || c.exact[o[0]]
}

func (c *originCheck) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.allowed(r) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write(jsonrpc.AppendError(nil, nil, jsonrpc.CodeInvalidRequest,
				"forbidden: requests from this Origin are not allowed (use --allow-origin to allow it)", nil))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// resourceURL is the MCP endpoint's URL as the client reached it.
func resourceURL(f *runFlags, r *http.Request) string {
	if f.http.publicURL != "" {
		return f.http.publicURL
	}
	return requestScheme(r) + "://" + r.Host + "/mcp"
}

// requestScheme is the scheme a request reached the front with.
func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// metadataURL is where the protected-resource metadata of the endpoint is.
func metadataURL(f *runFlags, r *http.Request) string {
	if f.http.publicURL != "" {
		if i := strings.Index(f.http.publicURL[len("https://"):], "/"); i >= 0 {
			base := f.http.publicURL[:len("https://")+i]
			return base + auth.MetadataPath + f.http.publicURL[len(base):]
		}
		return strings.TrimSuffix(f.http.publicURL, "/") + auth.MetadataPath
	}
	return requestScheme(r) + "://" + r.Host + auth.MetadataPath + "/mcp"
}

// upstreamDialer returns how HTTP sessions reach the server: a child
// process per session (or one shared, --shared-upstream), or the --upstream
// URL (a ClientConn per session, or one shared). closeUp stops shared
// upstreams.
func upstreamDialer(f *runFlags, e env, logger *slog.Logger, argv []string) (up transport.Dialer, closeUp func(), err error) {
	if f.http.handler != nil {
		return f.http.dialer, func() {}, nil
	}
	var open transport.DialFunc
	if f.upstream.url != "" {
		opts, err := f.upstream.clientOptions(f.maxMessage, logger)
		if err != nil {
			return nil, nil, err
		}
		// The HTTP client sees our sessions: when the upstream forgets one,
		// the front session ends and the client starts again.
		opts.ReinitOn404 = false
		url := f.upstream.url
		open = func(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
			c, err := streamhttp.Dial(ctx, url, opts)
			if err != nil {
				return nil, nil, err
			}
			return c, nil, nil
		}
	} else {
		open = func(ctx context.Context, s *transport.Session) (transport.Conn, func(), error) {
			child, err := stdio.StartChild(ctx, argv, stdio.ChildOptions{Stderr: e.stderr, MaxFrame: f.maxMessage})
			if err != nil {
				return nil, nil, err
			}
			logger.Debug("http front: started a server", "session", s.ID)
			return child.Conn(), func() { child.Stop(stdio.StopGrace) }, nil
		}
	}
	if !f.http.sharedUpstream {
		return open, func() {}, nil
	}
	sh := mux.NewShared(open, logger)
	return sh, func() { _ = sh.Close() }, nil
}

// runHTTP serves MCP clients over HTTP until SIGINT/SIGTERM (or ctx ends),
// then shuts down gracefully: no new connections, calls in flight get
// --shutdown-timeout to finish, then every session and server is stopped.
func runHTTP(ctx context.Context, e env, f *runFlags, g *gate.Gate, logger *slog.Logger, argv []string) int {
	addr, err := f.http.addr()
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate run: %v\n", err)
		return exitUsage
	}
	if f.http.handler == nil && f.upstream.url == "" && len(argv) == 0 {
		fmt.Fprintln(e.stderr, "tollgate run: --listen needs a server: a command after -- or --upstream URL")
		return exitUsage
	}
	if (f.http.jwtIssuer != "" || f.http.jwtAudience != "") && f.http.jwtJWKS == "" {
		fmt.Fprintln(e.stderr, "tollgate run: --jwt-issuer and --jwt-audience need --jwt-jwks")
		return exitUsage
	}
	if (f.http.tlsCert == "") != (f.http.tlsKey == "") {
		fmt.Fprintln(e.stderr, "tollgate run: --tls-cert and --tls-key go together")
		return exitUsage
	}
	for _, o := range f.http.allowOrigins {
		if _, err := normalizeOrigin(o); o != "*" && err != nil {
			fmt.Fprintf(e.stderr, "tollgate run: %v\n", err)
			return exitUsage
		}
	}
	var tlsConfig *tls.Config
	if f.http.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.http.tlsCert, f.http.tlsKey)
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate run: --tls-cert/--tls-key: %v\n", err)
			return exitFail
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate run: listen: %v\n", err)
		return exitFail
	}
	addr = ln.Addr().String()
	if host, _, _ := net.SplitHostPort(addr); !isLoopback(host) {
		if f.http.apiKeys == "" && f.http.jwtJWKS == "" {
			logger.Warn("serving MCP on a non-loopback address without --api-keys or --jwt-jwks: anyone who can reach it can call tools", "addr", addr)
		}
		if tlsConfig == nil && f.http.publicURL == "" {
			logger.Warn("serving MCP on a non-loopback address without TLS: credentials and tool arguments cross the network in clear text (--tls-cert and --tls-key, or a TLS proxy with --public-url)", "addr", addr)
		}
	}
	front, err := newHTTPFront(ctx, e, f, g, logger, argv, addr)
	if err != nil {
		ln.Close()
		fmt.Fprintf(e.stderr, "tollgate run: %v\n", err)
		return exitFail
	}
	srv := &http.Server{
		Handler:           front.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	srv.RegisterOnShutdown(front.Drain)
	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
			return
		}
		served <- srv.Serve(ln)
	}()
	base := f.http.scheme() + "://" + addr
	logger.Info("serving MCP over HTTP", "url", base+"/mcp", "legacy_sse", base+"/sse")

	sigCtx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	code := exitOK
	select {
	case <-sigCtx.Done():
		logger.Info("shutting down the HTTP front")
	case err := <-served:
		logger.Error("the HTTP server stopped", "err", err)
		code = exitFail
	}
	shutCtx, cancel := context.WithTimeoutCause(context.Background(), f.http.shutdownTimeout, errors.New("shutdown deadline passed"))
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		logger.Warn("HTTP shutdown did not finish in time; closing what is left", "err", context.Cause(shutCtx))
		srv.Close()
	}
	front.Close()
	return code
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
