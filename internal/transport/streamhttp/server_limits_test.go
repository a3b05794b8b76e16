package streamhttp

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/mcp"
)

// sessionLimitPolicy admits two calls of "count" per session.
const sessionLimitPolicy = `version: "1"
default: allow
tools:
  count:
    rules:
      - name: two per session
        rate_limit: 2/hour
        per: session
`

// TestFrontStatelessPerSessionLimit: 2026-07-28 requests carry no
// session, so a `per: session` limit counts per identity, and all the
// requests without one share one counter. Two identities count apart.
func TestFrontStatelessPerSessionLimit(t *testing.T) {
	hs, srv, _ := newSDKFront(t, sessionLimitPolicy, func(o *ServerOptions) {
		o.Identity = func(r *http.Request) string { return r.Header.Get("X-Test-Identity") }
	})
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	id := 0
	call := func(identity string) []byte {
		t.Helper()
		id++
		c := newFrontClient(t, hs.URL) // a new client, a new connection: nothing ties the calls
		c.header.Set("X-Test-Identity", identity)
		status, a := c.call(`{"jsonrpc":"2.0","id":`+strconv.Itoa(id)+`,"method":"tools/call","params":{"name":"count","arguments":{},`+meta+`}}`,
			HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "tools/call", HeaderName, "count")
		if status != http.StatusOK {
			t.Fatalf("tools/call as %q: HTTP %d %s", identity, status, a)
		}
		return a
	}
	denied := func(a []byte) bool { return bytes.Contains(a, []byte("[POLICY DENIED]")) }

	for _, who := range []string{"", "alice", "bob"} {
		for i := range 2 {
			if a := call(who); denied(a) {
				t.Fatalf("call %d as %q denied: %s", i+1, who, a)
			}
		}
		if a := call(who); !denied(a) {
			t.Fatalf("call 3 as %q admitted, want the per-session limit of 2: %s", who, a)
		}
	}
	if n := srv.counted.Load(); n != 6 {
		t.Errorf("the server ran count %d times, want 6 (two per caller)", n)
	}
}
