package scan

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// End-to-end scans of real MCP servers. mcptest skips with a message when a
// peer is not installed (and fails instead under TOLLGATE_REQUIRE_PEERS=1).

func scanAndCheck(t *testing.T, inv Inventory, err error, wantServer string, wantTools ...string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if inv.Server.Name != wantServer {
		t.Errorf("server name %q, want %q", inv.Server.Name, wantServer)
	}
	if inv.Server.ProtocolVersion == "" {
		t.Error("no protocol version")
	}
	names := toolNames(inv.Tools)
	for _, w := range wantTools {
		if !slices.Contains(names, w) {
			t.Errorf("tool %q missing from %v", w, names)
		}
	}
	r := Analyze(inv)
	if r.Summary.Total != len(inv.Tools) || r.Summary.Total == 0 {
		t.Errorf("summary %+v for %d tools", r.Summary, len(inv.Tools))
	}
	data := render(t, r, "yaml")
	if _, err := policy.Load("scaffold.yaml", data); err != nil {
		t.Errorf("scaffold of %s does not load: %v", wantServer, err)
	}
	t.Logf("%s: %d tools, %+v", wantServer, r.Summary.Total, r.Summary.ByCategory)
}

func e2eContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestE2EGoEverythingServerStdio(t *testing.T) {
	bin := mcptest.Peer(t, "everything-server")
	inv, err := FetchStdio(e2eContext(t), []string{bin}, nil, Options{})
	scanAndCheck(t, inv, err, "mcp-conformance-test-server", "test_simple_text", "test_sampling")
}

func TestE2EGoEverythingServerHTTP(t *testing.T) {
	for _, stateful := range []bool{true, false} {
		name := map[bool]string{true: "stateful", false: "stateless"}[stateful]
		t.Run(name, func(t *testing.T) {
			url := mcptest.EverythingServerHTTP(t, stateful)
			inv, err := FetchHTTP(e2eContext(t), url, nil, nil, Options{})
			scanAndCheck(t, inv, err, "mcp-conformance-test-server", "test_simple_text", "test_sampling")
		})
	}
}

func TestE2EServerEverythingStdio(t *testing.T) {
	argv := mcptest.ServerEverything(t)
	inv, err := FetchStdio(e2eContext(t), argv, nil, Options{})
	scanAndCheck(t, inv, err, "mcp-servers/everything", "echo")
}

func TestE2EServerEverythingHTTP(t *testing.T) {
	url := mcptest.ServerEverythingHTTP(t, "streamableHttp")
	inv, err := FetchHTTP(e2eContext(t), url, nil, nil, Options{})
	scanAndCheck(t, inv, err, "mcp-servers/everything", "echo")
}

// TestE2EServerEverythingLegacySSE: a server of the legacy HTTP+SSE
// transport refuses the streamable HTTP initialize (404), and the scan
// falls back to its event stream.
func TestE2EServerEverythingLegacySSE(t *testing.T) {
	url := mcptest.ServerEverythingHTTP(t, "sse")
	inv, err := FetchHTTP(e2eContext(t), url, nil, nil, Options{})
	scanAndCheck(t, inv, err, "mcp-servers/everything", "echo")
	if !strings.HasPrefix(inv.Server.Source, "http+sse: ") {
		t.Errorf("source %q, want the legacy transport named", inv.Server.Source)
	}
}
