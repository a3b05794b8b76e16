package e2e

import (
	"context"
	"os"
	"os/exec"
	"slices"
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

// TestListenOverStdio: a Go SDK client of revision 2026-07-28 over stdio
// has no GET stream and no session: it learns of tool list changes on its
// subscriptions/listen stream. Through tollgate run it is told both of
// the server's own change (the conformance everything-server's
// test_trigger_tool_change) and of a reload that hides a tool, after
// which the hidden tool is not listed.
func TestListenOverStdio(t *testing.T) {
	tg := mcptest.Tollgate(t)
	server := mcptest.Peer(t, "everything-server")
	pol := writePolicy(t, "version: \"1\"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(tg, "run", "-c", pol, "--state", "memory", "--audit", "off", "--", server)
	cmd.Stderr = &testLog{t: t}
	changed := make(chan struct{}, 8)
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, &mcp.ClientOptions{
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
	})
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	names := func() []string {
		t.Helper()
		lt, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tl := range lt.Tools {
			out = append(out, tl.Name)
		}
		return out
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no notifications/tools/list_changed on the listen stream after %s", what)
		}
	}
	if !slices.Contains(names(), "test_simple_text") {
		t.Fatal("test_simple_text not listed")
	}
	// The SDK opens its listen in the background: the server's change is
	// triggered until the stream carries it.
	for seen := false; !seen; {
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_trigger_tool_change"}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
			seen = true
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal("the server's tools/list_changed never reached the listen stream")
		}
	}
	for len(changed) > 0 {
		<-changed
	}
	if err := os.WriteFile(pol, []byte("version: \"1\"\nhide: [test_simple_text]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wait("a reload that hides a tool")
	if slices.Contains(names(), "test_simple_text") {
		t.Error("the hidden tool is still listed after the reload")
	}
}
