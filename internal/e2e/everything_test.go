//lint:file-ignore SA1019 these tests relay sampling and roots, which every revision before 2026-07-28 still uses.

package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

const everythingPolicy = `version: "1"
description: "e2e policy for @modelcontextprotocol/server-everything"
hide:
  - gzip-file-as-resource
tools:
  get-env:
    rules:
      - name: no environment dumps
        action: deny
        on_deny: "get-env would expose secrets"
  get-sum:
    rules:
      - name: small sums
        conditions:
          - path: args.a
            op: lte
            value: 100
        on_deny: "a must be at most 100"
`

// The Inspector CLI (initialize era) drives server-everything through the
// tollgate binary: list, allow, deny, argument condition, hide.
func TestInspectorThroughTollgate(t *testing.T) {
	tg := mcptest.Tollgate(t)
	server := mcptest.ServerEverything(t)
	pol := writePolicy(t, everythingPolicy)
	target := append([]string{tg, "run", "-c", pol, "--"}, server...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	out, err := mcptest.RunInspector(t, ctx, target, "--method", "tools/list")
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var list struct{ Tools []struct{ Name string } }
	if err := json.Unmarshal(out, &list); err != nil {
		t.Fatalf("tools/list output: %v\n%s", err, out)
	}
	var names []string
	for _, tl := range list.Tools {
		names = append(names, tl.Name)
	}
	if slices.Contains(names, "gzip-file-as-resource") || !slices.Contains(names, "echo") {
		t.Errorf("tools through tollgate: %v", names)
	}

	call := func(args ...string) (result struct {
		Content []struct{ Text string }
		IsError bool
		Meta    map[string]map[string]any `json:"_meta"`
	}, err error) {
		out, err := mcptest.RunInspector(t, ctx, target, append([]string{"--method", "tools/call"}, args...)...)
		if err != nil {
			return result, err
		}
		err = json.Unmarshal(out, &result)
		return result, err
	}
	r, err := call("--tool-name", "echo", "--tool-arg", "message=through the gate")
	if err != nil || r.IsError || !strings.Contains(r.Content[0].Text, "through the gate") {
		t.Errorf("echo: %v %+v", err, r)
	}
	r, err = call("--tool-name", "get-env")
	if err != nil || !r.IsError || r.Meta["dev.tollgate/decision"]["rule"] != "no environment dumps" {
		t.Errorf("get-env not denied: %v %+v", err, r)
	}
	r, err = call("--tool-name", "get-sum", "--tool-arg", "a=2", "--tool-arg", "b=3")
	if err != nil || r.IsError || !strings.Contains(r.Content[0].Text, "5") {
		t.Errorf("get-sum 2+3: %v %+v", err, r)
	}
	r, err = call("--tool-name", "get-sum", "--tool-arg", "a=2000", "--tool-arg", "b=3")
	if err != nil || !r.IsError {
		t.Errorf("get-sum 2000+3 not denied: %v %+v", err, r)
	}
	// A hidden tool is answered exactly as this server answers a tool it
	// does not have (here an isError result in its own words).
	hidden, herr := mcptest.RunInspector(t, ctx, target, "--method", "tools/call", "--tool-name", "gzip-file-as-resource", "--tool-arg", "name=x")
	missing, merr := mcptest.RunInspector(t, ctx, target, "--method", "tools/call", "--tool-name", "no-such-tool-at-all", "--tool-arg", "name=x")
	if got, want := strings.ReplaceAll(string(hidden), "gzip-file-as-resource", "no-such-tool-at-all"), string(missing); got != want || (herr == nil) != (merr == nil) {
		t.Errorf("a hidden tool is told apart from a missing one:\nhidden:  %s (%v)\nmissing: %s (%v)", hidden, herr, missing, merr)
	}
	if !strings.Contains(string(missing), "no-such-tool-at-all") {
		t.Errorf("missing tool answered %s (%v)", missing, merr)
	}
}

// server-everything asks the client for sampling and for roots while a call
// is open; both requests and their answers cross Tollgate.
func TestServerEverythingDuplex(t *testing.T) {
	tg := mcptest.Tollgate(t)
	server := mcptest.ServerEverything(t)
	pol := writePolicy(t, everythingPolicy)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.Command(tg, append([]string{"run", "-c", pol, "--"}, server...)...)
	cmd.Stderr = &testLog{t: t}
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, &mcp.ClientOptions{
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Role: "assistant", Model: "m", Content: &mcp.TextContent{Text: "sampled through tollgate"}}, nil
		},
	})
	client.AddRoots(&mcp.Root{URI: "file:///srv/project", Name: "project"})
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "trigger-sampling-request", Arguments: map[string]any{"prompt": "hi", "maxTokens": 10}})
	if err != nil || res.IsError {
		t.Fatalf("sampling: %v %+v", err, res)
	}
	if b, _ := json.Marshal(res.Content); !strings.Contains(string(b), "sampled through tollgate") {
		t.Errorf("sampling result: %s", b)
	}
	res, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "get-roots-list"})
	if err != nil || res.IsError {
		t.Fatalf("roots: %v %+v", err, res)
	}
	if b, _ := json.Marshal(res.Content); !strings.Contains(string(b), "file:///srv/project") {
		t.Errorf("roots result: %s", b)
	}
}
