package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// TestMultiRoundTripIsOneCall: a Go SDK client of revision 2026-07-28
// calls the conformance everything-server's MRTR tool through tollgate
// run. The server answers input_required, the client retries with the
// elicited name (and the requestState) under a new id, and the rounds are
// one call: a limit of one call an hour lets the retry through, and the
// next call is denied.
func TestMultiRoundTripIsOneCall(t *testing.T) {
	tg := mcptest.Tollgate(t)
	server := mcptest.Peer(t, "everything-server")
	pol := writePolicy(t, `version: "1"
tools:
  test_input_required_result_elicitation:
    rules:
      - name: one an hour
        rate_limit: 1/hour
        on_deny: "one greeting an hour"
`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(tg, "run", "-c", pol, "--state", "memory", "--audit", "off", "--", server)
	cmd.Stderr = &testLog{t: t}
	asked := 0
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			asked++
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada"}}, nil
		},
	})
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if v := cs.InitializeResult().ProtocolVersion; v != "2026-07-28" {
		t.Fatalf("negotiated %q, want 2026-07-28", v)
	}
	text := func(res *mcp.CallToolResult) string {
		var b strings.Builder
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String()
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_input_required_result_elicitation"})
	if err != nil {
		t.Fatal(err)
	}
	if asked != 1 || res.IsError || !strings.Contains(text(res), "Hello, Ada!") {
		t.Fatalf("asked %d times, result %q (isError %v); want the retry answered with the greeting", asked, text(res), res.IsError)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_input_required_result_elicitation"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(text(res), "[POLICY DENIED] one greeting an hour") {
		t.Fatalf("second call: %q (isError %v); want the limit's denial", text(res), res.IsError)
	}
}
