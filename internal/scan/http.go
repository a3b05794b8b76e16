package scan

import (
	"context"
	"net/http"

	"github.com/tollgate-mcp/tollgate/internal/redact"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
	"github.com/tollgate-mcp/tollgate/internal/transport/streamhttp"
)

// FetchHTTP lists the tools of the streamable HTTP MCP server at endpoint,
// through the same client tollgate run uses for --upstream
// (streamhttp.ClientConn). A server that refuses the streamable HTTP
// initialize (400, 404 or 405 without a JSON-RPC error) is tried as a
// legacy HTTP+SSE server, endpoint being its event stream (…/sse), as the
// specification's backwards-compatibility section describes. header is sent
// with every request (authorization, for example); its values are never
// echoed in errors or reports. client nil means the transport's own
// (pooled, same-origin redirects only).
func FetchHTTP(ctx context.Context, endpoint string, header http.Header, client *http.Client, o Options) (Inventory, error) {
	var conn *streamhttp.ClientConn
	dial := transport.DialFunc(func(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
		c, err := streamhttp.Dial(ctx, endpoint, streamhttp.ClientOptions{
			Header:         header,
			HTTPClient:     client,
			MaxMessageSize: maxLine,
			QuoteErrorBody: true,
		})
		if err != nil {
			return nil, nil, redact.Error(err, endpoint)
		}
		conn = c
		return c, nil, nil
	})
	// Both transports answer a request that failed on the way with an
	// error of their own that starts so.
	local := "upstream " + sse.RedactURL(endpoint) + ":"
	inv, err := fetch(ctx, dial, local, nil, o, "http: "+redact.URL(endpoint))
	if err != nil {
		return Inventory{}, err
	}
	if conn.Legacy() {
		o.progress("the server speaks the legacy HTTP+SSE transport")
		inv.Server.Source = "http+sse: " + redact.URL(endpoint)
	}
	return inv, nil
}
