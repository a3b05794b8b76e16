package sse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// ClientOptions configure a legacy HTTP+SSE client connection. The zero
// value works.
type ClientOptions struct {
	// Header is sent with every request (authorization, for example). Its
	// values never appear in errors or logs.
	Header http.Header
	// HTTPClient sends the requests; nil means http.DefaultClient. Its
	// Timeout, if any, must not cut the long-lived event stream.
	HTTPClient *http.Client
	// MaxMessageSize bounds one message; <= 0 means jsonrpc.DefaultMaxFrame.
	MaxMessageSize int
	// Logger receives warnings; nil discards them.
	Logger *slog.Logger
}

// ClientConn is one session with a server speaking the legacy HTTP+SSE
// transport (protocol revision 2024-11-05): a long-lived GET event stream
// carries everything the server sends, and each client message is POSTed
// to the endpoint the stream announced. It implements transport.Conn and
// transport.HalfCloser.
//
// Read is called from one goroutine at a time and returns a fresh slice for
// each frame. Write is safe for concurrent use and does not retain the frame.
// A request that cannot be delivered, or is still unanswered when the
// stream ends, is answered on Read with a JSON-RPC error naming the
// upstream (never with a header value). Close ends the stream and waits for
// the goroutines the ClientConn started; it may be called more than once.
type ClientConn struct {
	url      string // the SSE endpoint
	safe     string // url for messages
	endpoint string // where messages are POSTed
	header   http.Header
	client   *http.Client
	log      *slog.Logger
	max      int

	pending Pending
	out     chan []byte
	ended   chan struct{} // closed once end is set
	endErr  error
	endOnce sync.Once

	ctx       context.Context // cancelled by Close
	cancel    context.CancelFunc
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup

	mu          sync.Mutex
	writeClosed bool
}

var (
	_ transport.Conn       = (*ClientConn)(nil)
	_ transport.HalfCloser = (*ClientConn)(nil)
)

// Dial opens the event stream at rawURL with a GET and waits, within ctx,
// for the server's endpoint event, which names the URL messages are POSTed
// to. The endpoint must have the stream's origin (scheme, host and port), so
// that headers carrying credentials never go elsewhere. The stream itself
// outlives ctx: it lasts until Close or until the server ends it.
func Dial(ctx context.Context, rawURL string, opts ClientOptions) (*ClientConn, error) {
	safe := RedactURL(rawURL)
	base, err := url.Parse(rawURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("dial upstream %s: not an http or https URL", safe)
	}
	c := &ClientConn{
		url:    rawURL,
		safe:   safe,
		header: opts.Header,
		client: opts.HTTPClient,
		log:    opts.Logger,
		max:    opts.MaxMessageSize,
		out:    make(chan []byte, 64),
		ended:  make(chan struct{}),
		closed: make(chan struct{}),
	}
	if c.client == nil {
		c.client = http.DefaultClient
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.max <= 0 {
		c.max = jsonrpc.DefaultMaxFrame
	}
	streamCtx, cancel := context.WithCancel(context.Background())
	c.ctx, c.cancel = streamCtx, cancel
	stop := context.AfterFunc(ctx, cancel) // only until the endpoint arrives
	defer stop()

	req, err := http.NewRequestWithContext(streamCtx, http.MethodGet, rawURL, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("dial upstream %s: %w", safe, err)
	}
	c.setHeaders(req)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.client.Do(req)
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("dial upstream %s: %s", safe, Describe(err))
	}
	if resp.StatusCode != http.StatusOK || !isEventStream(resp.Header) {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("dial upstream %s: GET answered %s, not an event stream", safe, resp.Status)
	}
	r := NewReader(resp.Body, c.max)
	for {
		ev, err := r.Next()
		if err != nil {
			resp.Body.Close()
			cancel()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			return nil, fmt.Errorf("dial upstream %s: no endpoint event: %s", safe, Describe(err))
		}
		if ev.Name != "endpoint" {
			continue // nothing else may come before it; tolerate comments and priming
		}
		ep, err := base.Parse(string(bytes.TrimSpace(ev.Data)))
		if err != nil || ep.Scheme != base.Scheme || ep.Host != base.Host {
			resp.Body.Close()
			cancel()
			return nil, fmt.Errorf("dial upstream %s: endpoint event names another origin or no URL", safe)
		}
		c.endpoint = ep.String()
		break
	}
	if !stop() && ctx.Err() != nil {
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("dial upstream %s: %w", safe, ctx.Err())
	}
	c.wg.Add(1)
	go c.readLoop(resp.Body, r)
	return c, nil
}

func isEventStream(h http.Header) bool {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	return mt == "text/event-stream"
}

func (c *ClientConn) setHeaders(req *http.Request) {
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
}

// readLoop relays the event stream until it ends, then answers every
// request still pending and ends the connection.
func (c *ClientConn) readLoop(body io.ReadCloser, r *Reader) {
	defer c.wg.Done()
	defer body.Close()
	var err error
	for {
		var ev Event
		ev, err = r.Next()
		if err != nil {
			break
		}
		if len(ev.Data) == 0 || (ev.Name != "" && ev.Name != "message") {
			continue
		}
		frame := append([]byte(nil), ev.Data...)
		// Deliver before noting the answer: noting the last one may end
		// the connection (after CloseWrite), and Read must find the frame.
		if !c.deliver(frame) {
			return
		}
		c.noteResponse(frame)
	}
	select {
	case <-c.closed:
		return
	default:
	}
	reason := "event stream ended"
	if !errors.Is(err, io.EOF) {
		reason = "event stream failed: " + Describe(err)
	}
	c.log.Warn("upstream ended the session", "upstream", c.safe, "reason", reason)
	for _, id := range c.pending.Drain() {
		if !c.deliver(LostResponse(id, fmt.Sprintf("upstream %s: %s before the response", c.safe, reason))) {
			return
		}
	}
	c.end(io.EOF)
}

// noteResponse marks the requests a server frame answers.
func (c *ClientConn) noteResponse(frame []byte) {
	if jsonrpc.IsBatch(frame) {
		elems, err := jsonrpc.SplitBatch(frame, false)
		if err != nil {
			return
		}
		for _, e := range elems {
			c.noteResponse(e)
		}
		return
	}
	m, err := jsonrpc.Parse(frame, false)
	if err == nil && m.IsResponse() && m.ID != nil {
		c.pending.Done(m.ID)
		c.maybeDrained()
	}
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

// Read returns the next frame from the server; see transport.Conn.
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

// Write POSTs one frame to the session's endpoint; see transport.Conn. A
// request the server does not accept is answered on Read with an error.
func (c *ClientConn) Write(frame []byte) error {
	c.mu.Lock()
	wc := c.writeClosed
	c.mu.Unlock()
	select {
	case <-c.closed:
		return fmt.Errorf("write upstream %s: %w", c.safe, transport.ErrClosed)
	default:
	}
	if wc {
		return fmt.Errorf("write upstream %s: %w", c.safe, transport.ErrClosed)
	}
	ids := requestIDs(frame)
	for _, id := range ids {
		c.pending.Add(id)
	}
	err := c.post(frame)
	if err == nil {
		return nil
	}
	if len(ids) == 0 {
		c.log.Warn("upstream did not accept a message", "upstream", c.safe, "err", err)
		return nil
	}
	for _, id := range ids {
		if c.pending.Done(id) {
			c.deliver(ErrorResponse(id, err.Error()))
		}
	}
	c.maybeDrained()
	return nil
}

func (c *ClientConn) post(frame []byte) error {
	req, err := http.NewRequestWithContext(c.ctx, http.MethodPost, c.endpoint, bytes.NewReader(frame))
	if err != nil {
		return fmt.Errorf("upstream %s: %w", c.safe, err)
	}
	c.setHeaders(req)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("upstream %s: %s", c.safe, Describe(err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("upstream %s: POST answered %s", c.safe, resp.Status)
	}
	return nil
}

// requestIDs returns the raw ids of the requests in a frame (a message or a
// batch), copied.
func requestIDs(frame []byte) [][]byte {
	if jsonrpc.IsBatch(frame) {
		elems, err := jsonrpc.SplitBatch(frame, false)
		if err != nil {
			return nil
		}
		var ids [][]byte
		for _, e := range elems {
			ids = append(ids, requestIDs(e)...)
		}
		return ids
	}
	m, err := jsonrpc.Parse(frame, false)
	if err != nil || !m.IsRequest() {
		return nil
	}
	return [][]byte{append([]byte(nil), m.ID...)}
}

// CloseWrite says no more frames will be written: once every pending request
// is answered, Read returns io.EOF.
func (c *ClientConn) CloseWrite() error {
	c.mu.Lock()
	c.writeClosed = true
	c.mu.Unlock()
	c.maybeDrained()
	return nil
}

func (c *ClientConn) maybeDrained() {
	c.mu.Lock()
	wc := c.writeClosed
	c.mu.Unlock()
	if wc && c.pending.Len() == 0 {
		c.end(io.EOF)
	}
}

// Close ends the event stream, which ends the session, and waits for the
// reader goroutine. It may be called more than once.
func (c *ClientConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.cancel()
		c.wg.Wait()
	})
	return nil
}
