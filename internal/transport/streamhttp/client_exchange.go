package streamhttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// exchange POSTs one message and relays its answer. The message counts as
// sent once the request body has been handed to the connection (or the
// attempt failed).
func (c *ClientConn) exchange(m *message) {
	defer c.wg.Done()
	defer c.exchangeDone()
	var once sync.Once
	signal := func() { once.Do(func() { c.sent(m) }) }
	defer signal()

	var hold chan struct{}
	if m.isInit || m.inited {
		c.mu.Lock()
		hold = c.hold
		c.mu.Unlock()
		defer c.release(hold)
	}
	for {
		again := c.post(m, signal, hold)
		if !again {
			return
		}
		m.retried = true
	}
}

// post sends m once and handles the answer. It reports whether m must be
// sent again (the session was re-established after a 404).
func (c *ClientConn) post(m *message, signal func(), hold chan struct{}) (again bool) {
	ctx, forget := c.cancelable(c.ctx, m)
	defer forget()
	// A subscription's stream lives until it is cancelled: no timeout.
	if c.opts.RequestTimeout > 0 && m.method != mcp.MethodSubscriptionsListen {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.RequestTimeout)
		defer cancel()
	}
	// Wait out a handshake or a re-initialisation in progress (other than
	// this message's own), so that the session header is the new one.
	c.mu.Lock()
	for c.hold != nil && c.hold != hold {
		h := c.hold
		c.mu.Unlock()
		select {
		case <-h:
		case <-c.closed:
			signal()
			return false
		}
		c.mu.Lock()
	}
	session, version := c.session, c.version
	c.mu.Unlock()
	if m.version != "" {
		version = m.version
	}
	// The body stays a *bytes.Reader so that headers and body leave in one
	// write; the trace says when the request is on the wire. A
	// notification counts as sent only once the server has answered it
	// (202): the messages after it may travel on other connections, and
	// must not overtake it.
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) {
		if !m.isNote() {
			signal()
		}
	}}
	req := c.newRequest(httptrace.WithClientTrace(ctx, trace), http.MethodPost, m.frame)
	c.setHeaders(req, session, version)
	req.Header[keyContentType] = valJSON
	req.Header[keyAccept] = valAcceptBoth
	if version >= mcp.Version20260728 && m.method != "" {
		req.Header.Set("Mcp-Method", m.method)
		if m.name != "" {
			req.Header.Set("Mcp-Name", headerValue(m.name))
		}
		if m.method == mcp.MethodToolsCall {
			c.setParamHeaders(req.Header, m)
		}
	}
	resp, err := c.roundTrip(req)
	signal()
	if err != nil {
		if c.ctx.Err() != nil {
			return false // closed
		}
		c.fail(m, fmt.Sprintf("upstream %s: %s", c.safe, sse.Describe(err)))
		return false
	}
	status := resp.StatusCode
	switch {
	case status == http.StatusNotFound && session != "":
		drain(resp.Body)
		return c.sessionLost(m, session)
	case status/100 == 2:
		if m.isInit {
			c.mu.Lock()
			c.session = resp.Header.Get("Mcp-Session-Id")
			c.mu.Unlock()
		}
		if len(m.ids) == 0 {
			drain(resp.Body)
			if m.inited {
				c.startGET()
			}
			return false
		}
		switch mediaType(resp.Header) {
		case "application/json":
			c.readJSON(resp.Body, resp.ContentLength, m, hold)
		case "text/event-stream":
			c.readStream(ctx, resp, m, hold)
		default:
			drain(resp.Body)
			c.fail(m, fmt.Sprintf("upstream %s: answered a request with %s and no JSON-RPC response", c.safe, resp.Status))
		}
		return false
	case m.isInit && (status == http.StatusBadRequest || status == http.StatusNotFound || status == http.StatusMethodNotAllowed):
		b := readSome(resp.Body)
		if rpcErr := errorBody(b); rpcErr != nil {
			c.answerWith(m, rpcErr)
			return false
		}
		c.fallBack(m, resp.Status, hold)
		return false
	default:
		b := readSome(resp.Body)
		if rpcErr := errorBody(b); rpcErr != nil {
			if status == http.StatusBadRequest && m.method == mcp.MethodToolsCall && !m.retried &&
				version >= mcp.Version20260728 && errorCode(rpcErr) == CodeHeaderMismatch &&
				c.refreshTools(ctx, m, session, version) {
				return true // the tool's annotations may have changed: once more
			}
			c.answerWith(m, rpcErr)
			return false
		}
		why := fmt.Sprintf("upstream %s: HTTP %s%s", c.safe, resp.Status, c.quote(b))
		if status/100 == 4 {
			c.refuse(m, why) // the server turned the request down
		} else {
			c.fail(m, why) // a 5xx may come after the server acted
		}
		return false
	}
}

// quote returns ": " and the start of an error body on one line, when
// QuoteErrorBody asks for it; configured header values never appear.
func (c *ClientConn) quote(body []byte) string {
	if !c.opts.QuoteErrorBody {
		return ""
	}
	s := string(bytes.ToValidUTF8(body, []byte("?")))
	// A value, and each long enough word of it: a server may echo the
	// token of "Bearer <token>" alone.
	var secrets []string
	for _, vs := range c.opts.Header {
		for _, v := range vs {
			if v = strings.TrimSpace(v); v != "" {
				secrets = append(secrets, v)
			}
			for _, w := range strings.Fields(v) {
				if len(w) >= 6 {
					secrets = append(secrets, w)
				}
			}
		}
	}
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "…")
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return ": " + s
}

func mediaType(h http.Header) string {
	return mediaTypeOf(h.Get(keyContentType))
}

func readSome(body io.ReadCloser) []byte {
	b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
	drain(body)
	return b
}

// errorBody returns the error object of a JSON-RPC error response, nil when
// b is not one.
func errorBody(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil
	}
	m, err := jsonrpc.Parse(b, false)
	if err != nil || !m.IsResponse() || m.Error == nil {
		return nil
	}
	return m.Error
}

// answerWith answers every request of m with the server's error object.
func (c *ClientConn) answerWith(m *message, rpcErr []byte) {
	if len(m.ids) == 0 {
		c.log.Warn("upstream rejected a message", "upstream", c.safe, "method", m.method, "error", string(rpcErr))
		return
	}
	for _, id := range m.ids {
		if !c.pending.Done(id) {
			continue
		}
		f := append([]byte(`{"jsonrpc":"2.0","id":`), id...)
		f = append(f, `,"error":`...)
		f = append(f, rpcErr...)
		f = append(f, '}')
		if !c.deliver(f) {
			return
		}
	}
}

// fail answers every request of m still pending with an error saying why,
// marked as no answer from the server (sse.LostResponse): the request may
// have reached it and been acted on, so a gate keeps the call's charges.
func (c *ClientConn) fail(m *message, why string) {
	if len(m.ids) == 0 {
		c.log.Warn("could not deliver a message upstream", "method", m.method, "reason", why)
		return
	}
	c.log.Warn("upstream request failed", "method", m.method, "reason", why)
	c.failIDs(m.ids, why)
}

// refuse answers every request of m still pending with an error saying
// why, as the server's refusal: it answered the request with an HTTP error
// status of its own.
func (c *ClientConn) refuse(m *message, why string) {
	c.log.Warn("upstream refused a request", "method", m.method, "reason", why)
	for _, id := range m.ids {
		if c.pending.Done(id) && !c.deliver(sse.ErrorResponse(id, why)) {
			return
		}
	}
}

func (c *ClientConn) failIDs(ids [][]byte, why string) {
	for _, id := range ids {
		if c.pending.Done(id) && !c.deliver(sse.LostResponse(id, why)) {
			return
		}
	}
}

// readJSON relays a JSON answer.
func (c *ClientConn) readJSON(body io.ReadCloser, length int64, m *message, hold chan struct{}) {
	b, err := readBody(body, length, c.max)
	if err == nil && len(b) <= c.max {
		_ = body.Close() // read to its end: the connection is reusable
	} else {
		drain(body)
	}
	switch {
	case err != nil:
		if c.ctx.Err() == nil {
			c.fail(m, fmt.Sprintf("upstream %s: reading the answer: %s", c.safe, sse.Describe(err)))
		}
		return
	case len(b) > c.max:
		c.fail(m, fmt.Sprintf("upstream %s: the answer is larger than the %d-byte message limit", c.safe, c.max))
		return
	}
	c.fromServer(b, m, hold)
	if c.pendingOf(m) > 0 {
		c.fail(m, fmt.Sprintf("upstream %s: the JSON answer does not answer the request", c.safe))
	}
}

// readBody reads a body of at most limit bytes, or limit+1 bytes when it
// is longer. A body whose length the server declared is read into one
// buffer of that size, not grown from 512 bytes.
func readBody(body io.Reader, length int64, limit int) ([]byte, error) {
	if length > 0 && length <= int64(limit) {
		b := make([]byte, length)
		if _, err := io.ReadFull(body, b); err != nil {
			return nil, err
		}
		// Read on to the end of the body: net/http reuses the connection
		// only once its reader has seen io.EOF, not when it is closed
		// right after the last byte.
		var more [1]byte
		if n, err := body.Read(more[:]); n > 0 || (err != nil && !errors.Is(err, io.EOF)) {
			if err == nil {
				err = errors.New("read body: longer than its Content-Length")
			}
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(body, int64(limit)+1))
}

func (c *ClientConn) pendingOf(m *message) int {
	n := 0
	for _, id := range m.ids {
		if c.pending.Has(id) {
			n++
		}
	}
	return n
}

// fromServer relays one frame the server sent. A response is relayed only
// if its request is still pending (a replayed duplicate is dropped); the
// response to an initialize also sets the protocol version and releases the
// sends that waited for the handshake. It reports false when the ClientConn
// closed meanwhile.
func (c *ClientConn) fromServer(frame []byte, m *message, hold chan struct{}) bool {
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 {
		return true
	}
	if jsonrpc.IsBatch(frame) {
		elems, err := jsonrpc.SplitBatch(frame, false)
		if err == nil {
			for _, e := range elems {
				c.noteResponse(e, m, hold)
			}
		}
		return c.deliver(frame)
	}
	if !c.noteResponse(frame, m, hold) {
		c.log.Debug("dropped a response to no pending request", "upstream", c.safe)
		return true
	}
	if m != nil && m.method == mcp.MethodToolsList && c.revision(m) >= mcp.Version20260728 {
		frame = c.learnTools(frame)
	}
	return c.deliver(frame)
}

// noteResponse marks the request a response answers; it reports false for a
// response to no pending request.
func (c *ClientConn) noteResponse(frame []byte, m *message, hold chan struct{}) bool {
	p, err := jsonrpc.Parse(frame, false)
	if err != nil || !p.IsResponse() || p.ID == nil {
		return true
	}
	if m != nil && m.isInit && jsonrpc.SameID(p.ID, m.ids[0]) {
		if v := mcp.ResultString(p.Result, "protocolVersion"); p.Result != nil && v != "" {
			c.mu.Lock()
			c.version = v
			c.mu.Unlock()
		}
		defer c.release(hold)
	}
	return c.pending.Done(p.ID)
}

// readStream relays a POST's SSE answer until every request of m is
// answered, resuming the stream with GET and Last-Event-ID when it drops
// first, as often as it makes progress.
func (c *ClientConn) readStream(ctx context.Context, resp *http.Response, m *message, hold chan struct{}) {
	var last string
	var retry time.Duration
	stalls := 0
	for {
		progressed := c.consume(resp, m, hold, &last, &retry)
		if c.pendingOf(m) == 0 || ctx.Err() != nil {
			return
		}
		if last == "" {
			c.fail(m, fmt.Sprintf("upstream %s: the event stream ended before the response and cannot be resumed (no event id)", c.safe))
			return
		}
		if progressed {
			stalls = 0
		}
		for {
			stalls++
			if stalls > c.opts.MaxRetries {
				c.fail(m, fmt.Sprintf("upstream %s: the event stream ended before the response and could not be resumed after %d attempts", c.safe, c.opts.MaxRetries))
				return
			}
			if !c.sleep(ctx, c.delay(retry, stalls)) {
				return
			}
			next, why, lost := c.resume(ctx, last)
			if lost {
				c.fail(m, fmt.Sprintf("upstream %s: the session expired before the response", c.safe))
				return
			}
			if next != nil {
				resp = next
				break
			}
			if why != "" {
				c.fail(m, fmt.Sprintf("upstream %s: the event stream ended before the response and could not be resumed: %s", c.safe, why))
				return
			}
		}
	}
}

// consume reads one SSE body to its end or until m is answered, and reports
// whether anything arrived. last and retry follow the stream's id and retry
// fields.
func (c *ClientConn) consume(resp *http.Response, m *message, hold chan struct{}, last *string, retry *time.Duration) (progressed bool) {
	ended := false
	defer func() {
		if ended {
			drain(resp.Body)
		} else {
			c.letGo(resp.Body)
		}
	}()
	r := sse.NewReader(resp.Body, c.max)
	for {
		ev, err := r.Next()
		if err != nil {
			ended = true
			if c.ctx.Err() == nil && err != io.EOF {
				c.log.Debug("upstream event stream dropped", "upstream", c.safe, "err", sse.Describe(err))
			}
			return progressed
		}
		progressed = true
		if ev.HasID {
			*last = ev.ID
		}
		if ev.Retry > 0 {
			*retry = ev.Retry
		}
		if len(ev.Data) == 0 || (ev.Name != "" && ev.Name != "message") {
			continue
		}
		if !c.fromServer(append([]byte(nil), ev.Data...), m, hold) {
			return progressed
		}
		if m != nil && c.pendingOf(m) == 0 {
			return progressed
		}
	}
}

// letGo lets go of an event stream whose request is answered. A server
// usually ends the stream right after the response, and reading that end
// lets the connection be reused; one that keeps the stream open is cut
// after a grace period. The caller does not wait for either.
func (c *ClientConn) letGo(body io.ReadCloser) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.AfterFunc(streamGrace, func() { body.Close() })
		defer t.Stop()
		drain(body)
	}()
}

// streamGrace is how long an answered event stream may stay open.
const streamGrace = 2 * time.Second

// resume opens a GET stream that continues the one whose last event id is
// last. It returns the stream; or why it cannot be resumed; or lost when
// the server forgot the session; or nothing when the attempt may be
// repeated (a network error).
func (c *ClientConn) resume(ctx context.Context, last string) (resp *http.Response, why string, lost bool) {
	c.mu.Lock()
	session, version := c.session, c.version
	c.mu.Unlock()
	resp, err := c.get(ctx, session, version, last)
	if err != nil {
		return nil, "", false
	}
	switch {
	case resp.StatusCode == http.StatusOK && mediaType(resp.Header) == "text/event-stream":
		return resp, "", false
	case resp.StatusCode == http.StatusNotFound && session != "":
		drain(resp.Body)
		c.sessionLost(nil, session)
		return nil, "", true
	case resp.StatusCode >= 500:
		drain(resp.Body)
		return nil, "", false
	default:
		drain(resp.Body)
		return nil, "GET answered " + resp.Status, false
	}
}

// get sends a GET for an event stream.
func (c *ClientConn) get(ctx context.Context, session, version, last string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, err
	}
	c.setHeaders(req, session, version)
	req.Header[keyAccept] = valEventStream
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	return c.client.Do(req)
}

// delay is the wait before reconnection attempt n (1-based): the server's
// retry field when it set one, else ReconnectDelay growing by half each time.
func (c *ClientConn) delay(retry time.Duration, n int) time.Duration {
	if retry > 0 {
		return retry
	}
	d := time.Duration(float64(c.opts.ReconnectDelay) * math.Pow(1.5, float64(n-1)))
	return min(d, 30*time.Second)
}

// sleep waits d or until ctx ends, and reports whether it waited.
func (c *ClientConn) sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// headerValue encodes a value for an Mcp-Name or Mcp-Param header: as is
// when it is plain visible ASCII, else in the =?base64?…?= form that
// revision 2026-07-28 prescribes.
func headerValue(s string) string {
	plain := s != "" && s[0] != ' ' && s[len(s)-1] != ' '
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= 0x20 && s[i] <= 0x7e
	}
	if plain && !(len(s) >= len("=?base64??=") && s[:9] == "=?base64?" && s[len(s)-2:] == "?=") {
		return s
	}
	return "=?base64?" + base64.StdEncoding.EncodeToString([]byte(s)) + "?="
}
