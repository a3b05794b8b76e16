package scan

import (
	"context"
	"net/http"

	"github.com/tollgate-mcp/tollgate/internal/redact"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// fetchLegacy lists the tools of a server that speaks only the legacy
// HTTP+SSE transport (revision 2024-11-05): endpoint is its event stream
// (…/sse), which announces where to POST. It is what FetchHTTP falls back
// to when the server refuses the streamable HTTP initialize with 404 or
// 405, as the specification's backwards-compatibility section describes.
func fetchLegacy(ctx context.Context, endpoint string, header http.Header, client *http.Client, o Options) (Inventory, error) {
	o.progress("trying the legacy HTTP+SSE transport")
	conn, err := sse.Dial(ctx, endpoint, sse.ClientOptions{Header: header, HTTPClient: client})
	if err != nil {
		return Inventory{}, redact.Error(err, endpoint)
	}
	defer conn.Close()
	return discover(ctx, newConnCaller(conn), o, "http+sse: "+redact.URL(endpoint))
}
