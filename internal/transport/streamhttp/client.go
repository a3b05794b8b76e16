// Package streamhttp carries MCP over the streamable HTTP transport
// (protocol revisions 2025-03-26 to 2026-07-28). The client side, in the
// client*.go files, is Tollgate reaching an upstream MCP server over HTTP:
// one ClientConn per upstream session, implementing transport.Conn, falling
// back to the legacy HTTP+SSE transport (package sse) for old servers.
package streamhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"

	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// Defaults of ClientOptions.
const (
	DefaultConnectTimeout      = 10 * time.Second
	DefaultReconnectDelay      = time.Second
	DefaultMaxRetries          = 5
	DefaultMaxIdleConnsPerHost = 64
)

// ClientOptions configure Dial. The zero value works.
type ClientOptions struct {
	// Header is sent with every request (Authorization, an API key). Its
	// values never appear in errors or logs.
	Header http.Header
	// HTTPClient sends every request. nil means a client of Tollgate's own
	// with a pooled keep-alive transport sized by MaxIdleConnsPerHost, the
	// connect timeout, and same-origin redirects only. A client given here
	// must have no Timeout (it would cut long event streams).
	HTTPClient *http.Client
	// ConnectTimeout bounds connecting (TCP and TLS) when HTTPClient is nil;
	// 0 means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// RequestTimeout bounds one message's exchange, from sending the POST to
	// the end of its answer (an SSE answer included); 0 means no bound.
	RequestTimeout time.Duration
	// MaxIdleConnsPerHost is the keep-alive pool size when HTTPClient is
	// nil; 0 means DefaultMaxIdleConnsPerHost. Size it to the number of calls
	// in flight at once: each one in flight holds a connection.
	MaxIdleConnsPerHost int
	// MaxMessageSize bounds one message (a JSON body or one SSE event);
	// <= 0 means jsonrpc.DefaultMaxFrame.
	MaxMessageSize int
	// ReinitOn404 makes the ClientConn recover a session the server has
	// forgotten (HTTP 404 with a session id): it replays the client's
	// initialize and initialized and sends the failed message again, once.
	// Use it when the client cannot see the upstream session (a stdio
	// client). Without it a 404 answers the affected requests with an error
	// and ends the ClientConn with ErrSessionGone, so that a front can pass
	// the loss on to its own client.
	ReinitOn404 bool
	// ReconnectDelay is the first wait before resuming a dropped event
	// stream when the server set no retry field; it grows by half on each
	// attempt without progress. 0 means DefaultReconnectDelay.
	ReconnectDelay time.Duration
	// MaxRetries is how many times a stream is resumed without receiving
	// anything before its requests fail; 0 means DefaultMaxRetries.
	MaxRetries int
	// Logger receives warnings and debug lines; nil discards them.
	Logger *slog.Logger
	// QuoteErrorBody adds the start of an HTTP error answer that carries no
	// JSON-RPC error (up to 200 bytes on one line, the Header values cut
	// out) to the error a failed request is answered with: "HTTP 401
	// Unauthorized: invalid token". For a program whose reader is the
	// operator (tollgate scan); a proxy leaves it off, since its errors
	// reach the agent, and an upstream's error page is not the agent's to
	// read.
	QuoteErrorBody bool
}

// ErrSessionGone ends a ClientConn (without ReinitOn404) whose upstream
// session the server no longer knows (HTTP 404).
var ErrSessionGone = errors.New("upstream session expired")

// ClientConn is one upstream MCP session over streamable HTTP. It
// implements transport.Conn and transport.HalfCloser.
//
// Write sends each frame as its own POST and returns once the request is
// on its way, not when the server answers, so many calls are in flight at
// once. Everything the server sends — JSON answers, events of the POSTs'
// SSE streams, the standalone GET stream — comes out of Read in arrival
// order. A request that fails upstream (unreachable, HTTP error, a stream
// that ends before its answer and cannot be resumed) is answered on Read
// with a JSON-RPC error naming the upstream: no request goes unanswered.
//
// Read is called from one goroutine at a time and returns a fresh slice per
// frame. Write is safe for concurrent use and does not retain the frame.
// CloseWrite lets the requests in flight finish, ends the session (DELETE)
// and then Read returns io.EOF. Close aborts whatever is in flight, ends
// the session and waits for every goroutine the ClientConn started; it may
// be called more than once.
type ClientConn struct {
	url    string
	safe   string // url for messages
	origin *url.URL
	opts   ClientOptions
	client *http.Client
	log    *slog.Logger
	max    int

	// Built once at Dial, so that a request costs no URL parse and no
	// header canonicalisation (client_request.go).
	tmpl   *http.Request                // a request to url: what every request copies
	header http.Header                  // opts.Header by canonical key, len == cap values
	direct http.RoundTripper            // our own client's transport, used without the Client layer
	hv     atomic.Pointer[headerValues] // the session's last header values

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // every goroutine started

	out     chan []byte
	ended   chan struct{} // closed by end
	endErr  error
	endOnce sync.Once

	pending sse.Pending

	mu          sync.Mutex
	session     string
	version     string
	hold        chan struct{} // while non-nil, sends wait for it (handshake, reinit)
	initFrame   []byte        // the client's initialize, for reinit
	initedFrame []byte        // the client's notifications/initialized
	reinit      *reinitCall
	legacy      *sse.ClientConn
	getCancel   context.CancelFunc // the standalone GET stream
	writeClosed bool
	inflight    int
	deleted     bool
	// Messages handed to Write but not yet on the wire, all and
	// notifications only; sentCond (on mu) signals each one sent.
	unsent, unsentNotes int
	sentCond            sync.Cond
	// params holds the x-mcp-header annotations of the tools the
	// upstream listed, by tool name (revision 2026-07-28).
	params toolParams
	// cancels closes stateless requests' POSTs (client_cancel.go).
	cancels cancels
}

var (
	_ transport.Conn       = (*ClientConn)(nil)
	_ transport.HalfCloser = (*ClientConn)(nil)
)

// Dial returns a ClientConn for the MCP endpoint at rawURL. It sends nothing
// yet: the first POST (the client's initialize, or a 2026-07-28 request)
// opens the session, and a server that answers an initialize with 400, 404
// or 405 and no JSON-RPC error is tried as a legacy HTTP+SSE server. ctx is
// not retained.
func Dial(ctx context.Context, rawURL string, opts ClientOptions) (*ClientConn, error) {
	safe := sse.RedactURL(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("dial upstream %s: not an http or https URL", safe)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("dial upstream %s: %w", safe, err)
	}
	c := &ClientConn{
		url:    rawURL,
		safe:   safe,
		origin: u,
		opts:   opts,
		client: opts.HTTPClient,
		log:    opts.Logger,
		max:    opts.MaxMessageSize,
		out:    make(chan []byte, 64),
		ended:  make(chan struct{}),
		closed: make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.max <= 0 {
		c.max = jsonrpc.DefaultMaxFrame
	}
	if c.opts.ReconnectDelay <= 0 {
		c.opts.ReconnectDelay = DefaultReconnectDelay
	}
	if c.opts.MaxRetries <= 0 {
		c.opts.MaxRetries = DefaultMaxRetries
	}
	if c.client == nil {
		c.client = NewHTTPClient(opts.ConnectTimeout, opts.MaxIdleConnsPerHost)
	}
	if err := c.prepareRequests(u, opts.HTTPClient == nil); err != nil {
		return nil, fmt.Errorf("dial upstream %s: %w", safe, err)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.sentCond.L = &c.mu
	return c, nil
}

// NewHTTPClient returns the HTTP client Dial uses when ClientOptions has
// none: keep-alive connections pooled up to idlePerHost per host (0 means
// DefaultMaxIdleConnsPerHost), HTTP/2 when the server offers it, connect and
// TLS handshake bounded by connect (0 means DefaultConnectTimeout), no
// overall timeout, and redirects followed only within the same origin (so
// that credentials in headers never go elsewhere).
func NewHTTPClient(connect time.Duration, idlePerHost int) *http.Client {
	if connect <= 0 {
		connect = DefaultConnectTimeout
	}
	if idlePerHost <= 0 {
		idlePerHost = DefaultMaxIdleConnsPerHost
	}
	d := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * idlePerHost,
		MaxIdleConnsPerHost:   idlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   connect,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr, CheckRedirect: sameOriginRedirect}
}

func sameOriginRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("stopped after 5 redirects")
	}
	first := via[0].URL
	if req.URL.Scheme != first.Scheme || req.URL.Host != first.Host {
		return errors.New("refused a redirect to another origin")
	}
	return nil
}

// message is one frame on its way upstream.
type message struct {
	frame   []byte   // owned copy
	method  string   // "" for responses and batches
	ids     [][]byte // request ids (several in a batch)
	version string   // protocol version from the request's _meta
	name    string   // params.name or params.uri, for Mcp-Name
	isInit  bool
	inited  bool // notifications/initialized
	retried bool
	id1     [1][]byte // ids of a single request, without a slice of its own
}

// isNote reports whether m is a notification: it must reach the server
// after everything written before it (a cancellation after its request),
// and everything written after it must wait for it. Requests and responses
// are otherwise unordered, as JSON-RPC allows, so they never wait for each
// other to be sent.
func (m *message) isNote() bool { return len(m.ids) == 0 && m.method != "" }

func newMessage(frame []byte) *message {
	m := &message{frame: append([]byte(nil), frame...)}
	if jsonrpc.IsBatch(m.frame) {
		elems, err := jsonrpc.SplitBatch(m.frame, false)
		if err == nil {
			for _, e := range elems {
				if p, err := jsonrpc.Parse(e, false); err == nil && p.IsRequest() {
					m.ids = append(m.ids, p.ID)
				}
			}
		}
		return m
	}
	p, err := jsonrpc.Parse(m.frame, false)
	if err != nil {
		return m
	}
	m.method = p.Method
	if p.IsRequest() {
		m.id1[0] = p.ID
		m.ids = m.id1[:]
	}
	m.isInit = p.Method == mcp.MethodInitialize && p.IsRequest()
	m.inited = p.Method == "notifications/initialized"
	if len(p.Params) > 0 {
		m.version = mcp.MetaString(p.Params, mcp.MetaProtocolVersion)
		switch p.Method {
		case mcp.MethodToolsCall, mcp.MethodPromptsGet:
			m.name, _ = jsonrpc.Unquote(mcp.ParamsValue(p.Params, "name"))
		case mcp.MethodResourcesRead:
			m.name, _ = jsonrpc.Unquote(mcp.ParamsValue(p.Params, "uri"))
		case mcp.MethodTasksGet, mcp.MethodTasksUpdate, mcp.MethodTasksCancel, mcp.MethodTasksResult:
			// The tasks extension: Mcp-Name carries the task id, so that
			// a load balancer can route to the task's instance.
			m.name, _ = jsonrpc.Unquote(mcp.ParamsValue(p.Params, "taskId"))
		}
	}
	return m
}

// Write sends one frame upstream; see ClientConn. It returns an error only
// when the ClientConn is closed (or closed for writing). It blocks only
// while a handshake is in progress or while an earlier notification (for a
// notification: any earlier message) is still being sent.
func (c *ClientConn) Write(frame []byte) error {
	m := newMessage(frame)
	if c.cancelStateless(m) {
		return nil
	}
	note := m.isNote()
	for {
		c.mu.Lock()
		if c.isClosed() || c.writeClosed {
			c.mu.Unlock()
			return fmt.Errorf("write upstream %s: %w", c.safe, transport.ErrClosed)
		}
		if lg := c.legacy; lg != nil {
			c.mu.Unlock()
			return lg.Write(m.frame)
		}
		if h := c.hold; h != nil {
			c.mu.Unlock()
			select {
			case <-h:
				continue
			case <-c.closed:
				return fmt.Errorf("write upstream %s: %w", c.safe, transport.ErrClosed)
			}
		}
		if (note && c.unsent > 0) || (!note && c.unsentNotes > 0) {
			c.sentCond.Wait()
			c.mu.Unlock()
			continue
		}
		c.unsent++
		if note {
			c.unsentNotes++
		}
		if m.isInit {
			// A new initialize opens a new session.
			c.hold = make(chan struct{})
			c.initFrame, c.initedFrame = m.frame, nil
			c.session, c.version = "", ""
			c.stopGETLocked()
		}
		if m.inited {
			c.initedFrame = m.frame
			if c.getCancel == nil {
				// Later sends wait until the GET stream is open, so that
				// the server sees it before any call it could serve.
				c.hold = make(chan struct{})
			}
		}
		if m.version != "" {
			c.version = m.version
		}
		c.inflight++
		c.wg.Add(1)
		c.mu.Unlock()
		break
	}
	for _, id := range m.ids {
		c.pending.Add(id)
	}
	go c.exchange(m)
	return nil
}

// sent accounts for a message now on the wire (or abandoned).
func (c *ClientConn) sent(m *message) {
	c.mu.Lock()
	c.unsent--
	if m.isNote() {
		c.unsentNotes--
	}
	c.sentCond.Broadcast()
	c.mu.Unlock()
}

func (c *ClientConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// release lets waiting sends go after a handshake step.
func (c *ClientConn) release(h chan struct{}) {
	c.mu.Lock()
	if c.hold == h && h != nil {
		c.hold = nil
		close(h)
	}
	c.mu.Unlock()
}

// exchangeDone accounts for one finished exchange and, once the client has
// stopped writing and nothing is in flight, ends the session.
func (c *ClientConn) exchangeDone() {
	c.mu.Lock()
	c.inflight--
	last := c.writeClosed && c.inflight == 0
	c.mu.Unlock()
	if last {
		c.finish()
	}
}

// finish ends the session after CloseWrite: stop the GET stream, DELETE the
// session, and let Read return io.EOF.
func (c *ClientConn) finish() {
	c.mu.Lock()
	c.stopGETLocked()
	c.mu.Unlock()
	c.deleteSession()
	c.end(io.EOF)
}

func (c *ClientConn) deliver(frame []byte) bool {
	select {
	case c.out <- frame:
		return true
	case <-c.closed:
		return false
	}
}

func (c *ClientConn) end(err error) {
	c.endOnce.Do(func() {
		c.endErr = err
		close(c.ended)
	})
}

// Read returns the next frame from the server; see ClientConn.
func (c *ClientConn) Read() ([]byte, error) {
	select {
	case f := <-c.out:
		return f, nil
	case <-c.closed:
		return nil, fmt.Errorf("read upstream %s: %w", c.safe, transport.ErrClosed)
	case <-c.ended:
		select {
		case f := <-c.out:
			return f, nil
		default:
		}
		return nil, c.endErr
	}
}

// Legacy reports whether the server turned out to speak only the legacy
// HTTP+SSE transport, so that the session now runs over it (see Dial).
func (c *ClientConn) Legacy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.legacy != nil
}

// CloseWrite says no more frames will be written; see ClientConn.
func (c *ClientConn) CloseWrite() error {
	c.mu.Lock()
	if lg := c.legacy; lg != nil {
		c.mu.Unlock()
		return lg.CloseWrite()
	}
	already := c.writeClosed
	c.writeClosed = true
	idle := c.inflight == 0
	c.mu.Unlock()
	if !already && idle {
		c.finish()
	}
	return nil
}

// Close aborts everything in flight, ends the session and waits for the
// ClientConn's goroutines. It may be called more than once.
func (c *ClientConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		close(c.closed)
		lg := c.legacy
		c.sentCond.Broadcast()
		c.mu.Unlock()
		c.cancel()
		c.deleteSession()
		if lg != nil {
			_ = lg.Close()
		}
		c.wg.Wait()
	})
	return nil
}

// deleteSession sends DELETE for the session once, within a few seconds; a
// server that does not allow it answers 405, which is fine.
func (c *ClientConn) deleteSession() {
	c.mu.Lock()
	sid, ver := c.session, c.version
	done := c.deleted || sid == ""
	c.deleted = true
	c.mu.Unlock()
	if done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.url, nil)
	if err != nil {
		return
	}
	c.setHeaders(req, sid, ver)
	resp, err := c.client.Do(req)
	if err != nil {
		c.log.Debug("could not end the upstream session", "upstream", c.safe, "err", sse.Describe(err))
		return
	}
	drain(resp.Body)
	c.log.Debug("ended the upstream session", "upstream", c.safe, "status", resp.StatusCode)
}

// setHeaders sets the configured headers and the session's.
func (c *ClientConn) setHeaders(req *http.Request, session, version string) {
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	hv := c.hv.Load()
	if hv == nil || hv.session != session || hv.version != version {
		hv = newHeaderValues(session, version)
		c.hv.Store(hv)
	}
	if session != "" {
		req.Header[keySessionID] = hv.sessionVal
	}
	if version != "" {
		req.Header[keyProtocolVersion] = hv.versionVal
	}
}

// drain reads a little of a body so its connection can be reused, then
// closes it.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 64<<10))
	_ = body.Close()
}
