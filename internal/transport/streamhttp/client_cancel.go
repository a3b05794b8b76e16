package streamhttp

import (
	"context"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
)

// Revision 2026-07-28 has no client notifications over streamable HTTP:
// closing a request's response stream is its cancellation
// (basic/transports/streamable-http#cancellation). A
// notifications/cancelled written for a stateless request in flight
// therefore closes that request's POST instead of being sent: this is how
// a subscriptions/listen stream upstream ends when the client's ends.

// cancels holds the cancel functions of the stateless requests in flight,
// by canonical id. Guarded by ClientConn.mu.
type cancels map[string]context.CancelFunc

// stateless reports whether m is a request of the stateless revision.
func (m *message) stateless() bool {
	return len(m.ids) == 1 && m.method != "" && mcp.Stateless(m.version)
}

// cancelable derives the context of a stateless request's POST, which a
// notifications/cancelled for its id cancels; done forgets it.
func (c *ClientConn) cancelable(ctx context.Context, m *message) (context.Context, func()) {
	if !m.stateless() {
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	key := jsonrpc.IDKey(m.ids[0])
	c.mu.Lock()
	if c.cancels == nil {
		c.cancels = make(cancels)
	}
	c.cancels[key] = cancel
	c.mu.Unlock()
	return ctx, func() {
		c.mu.Lock()
		delete(c.cancels, key)
		c.mu.Unlock()
		cancel()
	}
}

// cancelStateless handles a notifications/cancelled frame: for a stateless
// request in flight it closes the request's POST and reports true (the
// notification is not sent).
func (c *ClientConn) cancelStateless(m *message) bool {
	if m.method != mcp.NotificationCancelled {
		return false
	}
	msg, err := jsonrpc.Parse(m.frame, false)
	if err != nil {
		return false
	}
	id := mcp.ParamsValue(msg.Params, "requestId")
	if id == nil {
		return false
	}
	c.mu.Lock()
	cancel, ok := c.cancels[jsonrpc.IDKey(id)]
	c.mu.Unlock()
	if ok {
		cancel()
	}
	return ok
}
