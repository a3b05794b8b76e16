package streamhttp

import (
	"mime"
	"net/http"
	"strings"
)

// Header values set on every request or answer, built once. Assigning them
// by canonical key skips the canonicalisation and the []string a
// Header.Set allocates per call. Each slice has len == cap, so a later
// Header.Add appends to a copy, never to the shared array; nothing in
// net/http writes into a header value slice.
var (
	valJSON        = []string{"application/json"}
	valEventStream = []string{"text/event-stream"}
	valAcceptBoth  = []string{"application/json, text/event-stream"}
	valNoCache     = []string{"no-cache"}
	valNo          = []string{"no"}
)

// Canonical header keys (http.CanonicalHeaderKey of each).
const (
	keyContentType     = "Content-Type"
	keyAccept          = "Accept"
	keyCacheControl    = "Cache-Control"
	keyAccelBuffering  = "X-Accel-Buffering"
	keySessionID       = "Mcp-Session-Id"
	keyProtocolVersion = "Mcp-Protocol-Version"
)

// setJSONType sets the Content-Type of a JSON answer.
func setJSONType(h http.Header) { h[keyContentType] = valJSON }

// mediaTypeOf returns the media type of a Content-Type value, lower case
// and without parameters, "" when it is malformed. The two values MCP
// peers send are recognised without mime.ParseMediaType, which allocates
// a map per call; anything else goes through it.
func mediaTypeOf(ct string) string {
	switch ct {
	case "application/json", "text/event-stream":
		return ct
	}
	return parseMediaType(ct)
}

// isCanonicalAccept reports whether an Accept header is the one MCP
// clients send, so that accepts need not parse it.
func isCanonicalAccept(vs []string) (json, sse, ok bool) {
	if len(vs) != 1 {
		return false, false, false
	}
	switch strings.TrimSpace(vs[0]) {
	case "application/json, text/event-stream", "text/event-stream, application/json":
		return true, true, true
	case "application/json":
		return true, false, true
	case "text/event-stream":
		return false, true, true
	}
	return false, false, false
}

func parseMediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return ""
	}
	return mt
}
