//lint:file-ignore SA1019 these tests relay sampling and roots, which every revision before 2026-07-28 still uses.

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

const conformancePolicy = `version: "1"
description: "e2e policy for the Go SDK conformance everything-server"
hide:
  - test_image_content
tools:
  test_error_handling:
    rules:
      - name: no errors please
        action: deny
        on_deny: "test_error_handling is not allowed"
  test_sampling:
    rules:
      - name: short prompts
        conditions:
          - path: args.prompt
            op: max_len
            value: 20
        on_deny: "prompt too long"
`

func writePolicy(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// connectGoSDK starts `tollgate run -c POLICY -- everything-server` and
// connects the Go SDK client to it over stdio at the given revision.
func connectGoSDK(t *testing.T, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	tg := mcptest.Tollgate(t)
	server := mcptest.Peer(t, "everything-server")
	pol := writePolicy(t, conformancePolicy)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.Command(tg, "run", "-c", pol, "--", server)
	cmd.Stderr = &testLog{t: t}
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, opts)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect through tollgate: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

type testLog struct{ t *testing.T }

func (l *testLog) Write(p []byte) (int, error) {
	l.t.Logf("tollgate: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func TestGoSDKThroughTollgate(t *testing.T) {
	for _, version := range []string{"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"} {
		t.Run(version, func(t *testing.T) {
			var progress atomic.Int32
			cs := connectGoSDK(t, version, &mcp.ClientOptions{
				ProgressNotificationHandler: func(context.Context, *mcp.ProgressNotificationClientRequest) { progress.Add(1) },
				CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
					return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "sampled answer"}}, nil
				},
			})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			// Hidden tools vanish from the list.
			lt, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tl := range lt.Tools {
				names = append(names, tl.Name)
			}
			if slices.Contains(names, "test_image_content") || !slices.Contains(names, "test_simple_text") {
				t.Errorf("tools/list through tollgate: %v", names)
			}

			// Allowed.
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
			if err != nil || res.IsError {
				t.Fatalf("allowed call: %v %+v", err, res)
			}
			// Denied: a tool result with isError and the decision in _meta.
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_error_handling"})
			if err != nil || !res.IsError {
				t.Fatalf("denied call: %v %+v", err, res)
			}
			if text := res.Content[0].(*mcp.TextContent).Text; text != "[POLICY DENIED] test_error_handling is not allowed" {
				t.Errorf("denial text %q", text)
			}
			if d, _ := res.Meta["dev.tollgate/decision"].(map[string]any); d["action"] != "deny" || d["rule"] != "no errors please" {
				t.Errorf("decision meta %v", res.Meta)
			}
			// Hidden: answered exactly as the server answers a tool it lacks
			// (this server's own wording), name for name.
			_, hidden := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_image_content"})
			_, missing := cs.CallTool(ctx, &mcp.CallToolParams{Name: "no_such_tool_at_all"})
			if hidden == nil || missing == nil {
				t.Fatalf("hidden tool call: %v; missing tool call: %v", hidden, missing)
			}
			if got, want := strings.ReplaceAll(hidden.Error(), "test_image_content", "no_such_tool_at_all"), missing.Error(); got != want {
				t.Errorf("a hidden tool is told apart from a missing one:\nhidden:  %s\nmissing: %s", hidden, missing)
			}
			// Progress flows while a call runs.
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_tool_with_progress", Meta: mcp.Meta{"progressToken": "tok-1"}})
			if err != nil || res.IsError {
				t.Fatalf("progress call: %v %+v", err, res)
			}
			if n := progress.Load(); n < 3 {
				t.Errorf("saw %d progress notifications, want 3", n)
			}
			if version >= "2026-07-28" {
				return // server-to-client sampling requests left the protocol in 2026-07-28
			}
			// Sampling: the server asks the client mid-call, through Tollgate both ways.
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_sampling", Arguments: map[string]any{"prompt": "hello"}})
			if err != nil || res.IsError {
				t.Fatalf("sampling call: %v %+v", err, res)
			}
			if text := res.Content[0].(*mcp.TextContent).Text; text != "LLM response: sampled answer" {
				t.Errorf("sampling result %q", text)
			}
			// An argument condition on the same tool still applies.
			res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_sampling", Arguments: map[string]any{"prompt": strings.Repeat("long ", 10)}})
			if err != nil || !res.IsError {
				t.Errorf("long prompt not denied: %v %+v", err, res)
			}
		})
	}
}

// Many calls in flight at once through one session: all answered, each with
// its own result.
func TestGoSDKConcurrentCalls(t *testing.T) {
	cs := connectGoSDK(t, "2025-11-25", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, 32)
	for i := 0; i < 32; i++ {
		go func() {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_tool_with_progress", Meta: mcp.Meta{"progressToken": i}})
			if err == nil {
				b, _ := json.Marshal(res.Content)
				if !strings.Contains(string(b), `"text":"`+itoa(i)+`"`) {
					err = &mismatch{i, string(b)}
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < 32; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

type mismatch struct {
	i   int
	got string
}

func (m *mismatch) Error() string { return "call " + itoa(m.i) + " got " + m.got }

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
