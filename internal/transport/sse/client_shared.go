package sse

import (
	"context"
	"errors"
	"net"
	"net/url"
	"sync"
	"syscall"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// This file holds what the HTTP clients of this package and of package
// streamhttp share: how an upstream is named in messages, how a failure is
// described, and the set of requests still waiting for an answer.

// RedactURL returns the upstream URL as it may appear in errors and logs:
// without user information, and with the query (which may carry an API
// key) replaced by "…".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.Fragment = ""
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery = ""
		u.ForceQuery = false
		return u.String() + "?…"
	}
	return u.String()
}

// Describe returns a short, lowercase description of an HTTP client error
// that names neither the URL nor any header: "connection refused",
// "timed out", "no such host", or the innermost error's text.
func Describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // its text repeats the URL, query and all
	}
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "no such host"
		}
		return "cannot resolve host: " + dns.Err
	case errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	}
	return err.Error()
}

// ErrorResponse returns a JSON-RPC error response (code -32603, internal
// error) for the request with the raw id: the upstream refused it.
func ErrorResponse(id []byte, message string) []byte {
	return jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError, message, nil)
}

// LostResponse returns the error response for a request that was sent and
// whose answer will not come (jsonrpc.AppendLost): the server may have
// acted on it, so a gate must not read it as the server's refusal.
func LostResponse(id []byte, message string) []byte {
	return jsonrpc.AppendLost(nil, id, message)
}

// Pending is the set of requests sent upstream and not yet answered, keyed
// so that ids a server re-encodes (1.0 for 1, "\u0061" for "a") still match.
// It is safe for concurrent use.
type Pending struct {
	mu sync.Mutex
	m  map[string][]byte // key → raw id as the client sent it
}

// Add records a request id; it reports false when the id is already pending.
func (p *Pending) Add(id []byte) bool {
	k := jsonrpc.IDKey(id)
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.m[k]; dup {
		return false
	}
	if p.m == nil {
		p.m = make(map[string][]byte)
	}
	p.m[k] = append([]byte(nil), id...)
	return true
}

// Done removes an id and reports whether it was pending.
func (p *Pending) Done(id []byte) bool {
	var buf [32]byte
	k := jsonrpc.AppendIDKey(buf[:0], id) // no string for the lookup
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.m[string(k)]
	delete(p.m, string(k))
	return ok
}

// Has reports whether an id is pending.
func (p *Pending) Has(id []byte) bool {
	var buf [32]byte
	k := jsonrpc.AppendIDKey(buf[:0], id)
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.m[string(k)]
	return ok
}

// Len returns the number of pending requests.
func (p *Pending) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// Drain removes every pending id and returns them.
func (p *Pending) Drain() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([][]byte, 0, len(p.m))
	for _, id := range p.m {
		out = append(out, id)
	}
	p.m = nil
	return out
}
