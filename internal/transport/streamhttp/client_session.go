package streamhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// startGET opens the standalone GET stream, once per session, after the
// client's notifications/initialized was accepted. It returns once the
// server has answered the first GET (or failed to, or streamGrace passed).
func (c *ClientConn) startGET() {
	c.mu.Lock()
	if c.getCancel != nil || c.isClosed() || c.writeClosed {
		c.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.getCancel = cancel
	c.wg.Add(1)
	ready := make(chan struct{})
	go c.getLoop(ctx, c.session, c.version, ready)
	c.mu.Unlock()
	t := time.NewTimer(streamGrace)
	defer t.Stop()
	select {
	case <-ready:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (c *ClientConn) stopGETLocked() {
	if c.getCancel != nil {
		c.getCancel()
		c.getCancel = nil
	}
}

// getLoop keeps the standalone GET stream open: it relays what the server
// sends on it and reconnects after a drop (with Last-Event-ID when the
// stream had ids, after the server's retry delay). A server that does not
// offer the stream (405, or another 4xx) is left alone.
func (c *ClientConn) getLoop(ctx context.Context, session, version string, ready chan struct{}) {
	defer c.wg.Done()
	var once sync.Once
	answered := func() { once.Do(func() { close(ready) }) }
	defer answered()
	var last string
	var retry time.Duration
	stalls := 0
	for {
		resp, err := c.get(ctx, session, version, last)
		answered()
		switch {
		case ctx.Err() != nil:
			if err == nil {
				drain(resp.Body)
			}
			return
		case err != nil:
			c.log.Debug("upstream GET stream failed", "upstream", c.safe, "err", sse.Describe(err))
		case resp.StatusCode == http.StatusOK && mediaType(resp.Header) == "text/event-stream":
			if c.consume(resp, nil, nil, &last, &retry) {
				stalls = 0
			}
		case resp.StatusCode == http.StatusNotFound && session != "":
			drain(resp.Body)
			c.sessionLost(nil, session)
			return
		case resp.StatusCode < 500:
			drain(resp.Body)
			c.log.Debug("upstream offers no GET stream", "upstream", c.safe, "status", resp.StatusCode)
			return
		default:
			drain(resp.Body)
		}
		stalls++
		if stalls > c.opts.MaxRetries {
			c.log.Warn("gave up reopening the upstream GET stream; server-initiated messages outside calls are lost", "upstream", c.safe)
			return
		}
		if !c.sleep(ctx, c.delay(retry, stalls)) {
			return
		}
	}
}

// sessionLost handles a 404 for the session sid. With ReinitOn404 it
// re-establishes the session and reports whether m (nil for a stream)
// should be sent again; without, it answers every pending request with an
// error and ends the ClientConn with ErrSessionGone.
func (c *ClientConn) sessionLost(m *message, sid string) (again bool) {
	why := fmt.Sprintf("upstream %s: %s (the server answered 404 for the session)", c.safe, ErrSessionGone)
	if !c.opts.ReinitOn404 {
		c.log.Warn("upstream session expired", "upstream", c.safe)
		c.mu.Lock()
		c.stopGETLocked()
		c.deleted = true // nothing left to delete
		c.mu.Unlock()
		if m != nil {
			c.fail(m, why)
		}
		c.failIDs(c.pending.Drain(), why)
		c.end(fmt.Errorf("read upstream %s: %w", c.safe, ErrSessionGone))
		return false
	}
	if m != nil && (m.retried || m.isInit) {
		c.fail(m, why)
		return false
	}
	if err := c.reinitialize(sid); err != nil {
		c.log.Warn("could not re-establish the upstream session", "upstream", c.safe, "err", err)
		if m != nil {
			c.fail(m, fmt.Sprintf("upstream %s: %s, and re-initialising failed: %v", c.safe, ErrSessionGone, err))
		}
		return false
	}
	return m != nil
}

// reinitCall is one re-initialisation in progress; others wait for it.
type reinitCall struct {
	done chan struct{}
	err  error
}

// reinitialize replaces the lost session old with a new one by replaying
// the client's initialize and initialized; the client never sees the
// replayed handshake. Concurrent callers share one replay; sends wait for it.
func (c *ClientConn) reinitialize(old string) error {
	c.mu.Lock()
	if r := c.reinit; r != nil {
		c.mu.Unlock()
		<-r.done
		return r.err
	}
	if c.session != old {
		c.mu.Unlock()
		return nil // already replaced
	}
	if c.initFrame == nil {
		c.mu.Unlock()
		return errors.New("the client sent no initialize to replay")
	}
	r := &reinitCall{done: make(chan struct{})}
	c.reinit = r
	hold := make(chan struct{})
	if c.hold == nil {
		c.hold = hold
	}
	c.session = ""
	c.stopGETLocked()
	initFrame, inited := c.initFrame, c.initedFrame
	c.mu.Unlock()

	c.log.Info("upstream session expired; re-initialising", "upstream", c.safe)
	r.err = c.replay(initFrame, inited)

	c.mu.Lock()
	c.reinit = nil
	c.mu.Unlock()
	c.release(hold)
	close(r.done)
	if r.err == nil && inited != nil {
		c.startGET()
	}
	return r.err
}

// replay sends the saved handshake and adopts the new session.
func (c *ClientConn) replay(initFrame, inited []byte) error {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	resp, err := c.postRaw(ctx, initFrame, "", "")
	if err != nil {
		return fmt.Errorf("initialize: %s", sse.Describe(err))
	}
	if resp.StatusCode/100 != 2 {
		drain(resp.Body)
		return fmt.Errorf("initialize: HTTP %s", resp.Status)
	}
	session := resp.Header.Get("Mcp-Session-Id")
	result, err := c.initResult(resp, initFrame)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	version := mcp.ResultString(result, "protocolVersion")
	c.mu.Lock()
	c.session, c.deleted = session, false
	if version != "" {
		c.version = version
	}
	version = c.version
	c.mu.Unlock()
	if inited == nil {
		return nil
	}
	resp, err = c.postRaw(ctx, inited, session, version)
	if err != nil {
		return fmt.Errorf("initialized: %s", sse.Describe(err))
	}
	drain(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("initialized: HTTP %s", resp.Status)
	}
	return nil
}

// postRaw POSTs a frame of Tollgate's own and returns the raw answer. A
// 2026-07-28 request carries its Mcp-Method header.
func (c *ClientConn) postRaw(ctx context.Context, frame []byte, session, version string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(frame))
	if err != nil {
		return nil, err
	}
	c.setHeaders(req, session, version)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if version >= mcp.Version20260728 {
		if m, err := jsonrpc.Parse(frame, false); err == nil {
			req.Header.Set("Mcp-Method", m.Method)
		}
	}
	return c.client.Do(req)
}

// initResult reads the result of a replayed initialize from a JSON or SSE
// answer; anything else the server sends meanwhile is dropped.
func (c *ClientConn) initResult(resp *http.Response, initFrame []byte) ([]byte, error) {
	req, err := jsonrpc.Parse(initFrame, false)
	if err != nil {
		drain(resp.Body)
		return nil, err
	}
	frame, err := c.ownAnswer(resp, req.ID)
	if err != nil {
		return nil, err
	}
	m, _ := jsonrpc.Parse(frame, false)
	if m.Error != nil {
		return nil, fmt.Errorf("server answered %s", m.Error)
	}
	return append([]byte(nil), m.Result...), nil
}

// ownAnswer reads the response to id, a request of Tollgate's own, from a
// JSON or SSE answer and closes the body; anything else the server sends
// meanwhile is dropped, none of it relayed.
func (c *ClientConn) ownAnswer(resp *http.Response, id []byte) ([]byte, error) {
	defer drain(resp.Body)
	answers := func(frame []byte) bool {
		m, err := jsonrpc.Parse(frame, false)
		return err == nil && m.IsResponse() && jsonrpc.SameID(m.ID, id)
	}
	if mediaType(resp.Header) != "text/event-stream" {
		b, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.max)+1))
		if err != nil {
			return nil, err
		}
		if len(b) > c.max {
			return nil, fmt.Errorf("an answer over %d bytes", c.max)
		}
		if b = bytes.TrimSpace(b); answers(b) {
			return b, nil
		}
		return nil, errors.New("no answer to our request in the body")
	}
	r := sse.NewReader(resp.Body, c.max)
	for {
		ev, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("no answer to our request in the event stream: %s", sse.Describe(err))
		}
		if answers(ev.Data) {
			return append([]byte(nil), ev.Data...), nil
		}
	}
}

// fallBack tries the legacy HTTP+SSE transport after the server refused a
// streamable HTTP initialize, and on success hands the session to it.
func (c *ClientConn) fallBack(m *message, status string, hold chan struct{}) {
	connect := c.opts.ConnectTimeout
	if connect <= 0 {
		connect = DefaultConnectTimeout
	}
	ctx, cancel := context.WithTimeout(c.ctx, connect)
	defer cancel()
	lg, err := sse.Dial(ctx, c.url, sse.ClientOptions{
		Header:         c.opts.Header,
		HTTPClient:     c.client,
		MaxMessageSize: c.max,
		Logger:         c.log,
	})
	if err != nil {
		c.fail(m, fmt.Sprintf("upstream %s: POST initialize answered %s, and no legacy HTTP+SSE endpoint either (%v)", c.safe, status, err))
		return
	}
	c.log.Info("upstream speaks the legacy HTTP+SSE transport", "upstream", c.safe)
	c.mu.Lock()
	if c.isClosed() {
		c.mu.Unlock()
		_ = lg.Close()
		return
	}
	c.legacy = lg
	c.wg.Add(1)
	c.mu.Unlock()
	go c.forward(lg)
	for _, id := range m.ids {
		c.pending.Done(id) // the legacy conn answers them now
	}
	_ = lg.Write(m.frame)
	c.release(hold)
}

// forward relays the legacy connection's frames.
func (c *ClientConn) forward(lg *sse.ClientConn) {
	defer c.wg.Done()
	for {
		f, err := lg.Read()
		if err != nil {
			if !c.isClosed() {
				c.end(err)
			}
			return
		}
		if !c.deliver(append([]byte(nil), f...)) {
			return
		}
	}
}
