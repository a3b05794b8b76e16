package streamhttp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
)

// What every request to the upstream shares is built once, at Dial: the
// parsed URL (a request copies the template instead of parsing the URL
// again), the configured headers by canonical key, and the session's
// header values. Header value slices are shared between requests with
// len == cap, so that an Add on one request appends to a copy; net/http
// never writes into a value slice.

// headerValues are the Mcp-Session-Id and MCP-Protocol-Version values of
// the session, as header value slices.
type headerValues struct {
	session, version       string
	sessionVal, versionVal []string
}

func newHeaderValues(session, version string) *headerValues {
	return &headerValues{session: session, version: version,
		sessionVal: []string{session}, versionVal: []string{version}}
}

// prepareRequests builds the request template and the canonical headers.
// own says the HTTP client is Tollgate's own (NewHTTPClient): its transport
// is then used directly (see roundTrip).
func (c *ClientConn) prepareRequests(u *url.URL, own bool) error {
	tmpl, err := http.NewRequest(http.MethodPost, c.url, nil)
	if err != nil {
		return err
	}
	tmpl.Header = nil
	c.tmpl = tmpl
	c.header = make(http.Header, len(c.opts.Header))
	for k, vs := range c.opts.Header {
		ck := http.CanonicalHeaderKey(k)
		c.header[ck] = append(c.header[ck], vs...)
	}
	for k, vs := range c.header {
		c.header[k] = vs[:len(vs):len(vs)]
	}
	// A URL with user information needs the Client, which turns it into
	// an Authorization header.
	if own && u.User == nil {
		c.direct = c.client.Transport
	}
	return nil
}

// newRequest returns a request to the endpoint with an empty header and,
// when body is not nil, body (which the request may send again: on a
// redirect, or when a kept-alive connection turned out to be closed).
func (c *ClientConn) newRequest(ctx context.Context, method string, body []byte) *http.Request {
	req := c.tmpl.WithContext(ctx) // a shallow copy: the URL is shared, read only
	req.Method = method
	req.Header = make(http.Header, 8)
	if body != nil {
		req.ContentLength = int64(len(body))
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return req
}

// roundTrip sends a request. With Tollgate's own client it goes straight to
// the transport, without the Client layer's copy of the header (kept for
// redirects): a redirect, rare, is then followed by sending the request
// again through the Client, which applies the same-origin rule.
func (c *ClientConn) roundTrip(req *http.Request) (*http.Response, error) {
	if c.direct == nil {
		return c.client.Do(req)
	}
	resp, err := c.direct.RoundTrip(req)
	if err != nil {
		return nil, &url.Error{Op: urlErrorOp(req.Method), URL: c.safe, Err: err}
	}
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		if resp.Header.Get("Location") == "" {
			return resp, nil
		}
		drain(resp.Body)
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
		return c.client.Do(req)
	}
	return resp, nil
}

func urlErrorOp(method string) string {
	if method == "" {
		return "Get"
	}
	return method[:1] + string(bytes.ToLower([]byte(method[1:])))
}
