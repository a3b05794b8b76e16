// Command conformance-client is the client the official MCP conformance
// suite runs (`conformance client --command CMD --scenario NAME`), speaking
// to the scenario's server through Tollgate: it runs the Go SDK's client
// over stdio against `tollgate run --upstream URL`, so what the suite checks
// is Tollgate's upstream HTTP client. The scenarios mirror the Go SDK's
// conformance everything-client.
//
// Usage: conformance-client URL, with MCP_CONFORMANCE_SCENARIO set, and
// TOLLGATE_BIN and TOLLGATE_POLICY naming the tollgate binary and a policy.
// It is its own module (it needs the Go SDK's dependencies, which
// Tollgate's module does not carry).
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: conformance-client URL")
	}
	url := os.Args[len(os.Args)-1]
	scenario := os.Getenv("MCP_CONFORMANCE_SCENARIO")
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	if err := run(ctx, scenario, url); err != nil {
		log.Fatalf("scenario %q: %v", scenario, err)
	}
}

func connect(ctx context.Context, url string, opts *mcp.ClientOptions) (*mcp.ClientSession, error) {
	cmd := exec.Command(os.Getenv("TOLLGATE_BIN"), "run", "-c", os.Getenv("TOLLGATE_POLICY"), "--state", "memory", "--upstream", url)
	cmd.Stderr = os.Stderr
	client := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1.0.0"}, opts)
	return client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
}

func run(ctx context.Context, scenario, url string) error {
	var opts *mcp.ClientOptions
	tool, args := "", map[string]any{}
	switch scenario {
	case "initialize":
	case "tools_call":
		tool, args = "add_numbers", map[string]any{"a": 5, "b": 3}
	case "sse-retry":
		tool = "test_reconnection"
	case "elicitation-sep1034-client-defaults":
		tool = "test_client_elicitation_defaults"
		opts = &mcp.ClientOptions{ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{}}, nil
		}}
	default:
		return fmt.Errorf("unknown scenario")
	}
	cs, err := connect(ctx, url, opts)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer cs.Close()
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("list tools: %w", err)
	}
	if tool == "" {
		return nil
	}
	if !slices.ContainsFunc(tools.Tools, func(t *mcp.Tool) bool { return t.Name == tool }) {
		return fmt.Errorf("tool %q not listed", tool)
	}
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args}); err != nil {
		return fmt.Errorf("call %s: %w", tool, err)
	}
	return nil
}
