package mcptest_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// These tests prove that the peers work on their own, without Tollgate in
// between, so that a failure of a test through Tollgate is Tollgate's.

// protocolVersion is the MCP revision the raw stdio test asks for.
const protocolVersion = "2025-11-25"

type rpcResponse struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func TestGoEverythingServerStdio(t *testing.T) {
	bin := mcptest.Peer(t, "everything-server")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil && ctx.Err() == nil {
			t.Errorf("everything-server exited: %v\n%s", err, stderr.String())
		}
	}()

	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	send := func(line string) {
		t.Helper()
		if _, err := io.WriteString(stdin, line+"\n"); err != nil {
			t.Fatalf("write %s: %v", line, err)
		}
	}
	// await returns the response with the given id, passing over any
	// notification the server sends first.
	await := func(id string) rpcResponse {
		t.Helper()
		for lines.Scan() {
			var r rpcResponse
			if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
				t.Fatalf("server wrote a line that is not JSON: %q: %v", lines.Text(), err)
			}
			if string(r.ID) != id {
				continue
			}
			if r.Error != nil {
				t.Fatalf("request %s failed: %d %s", id, r.Error.Code, r.Error.Message)
			}
			return r
		}
		t.Fatalf("no response to request %s: %v\nstderr:\n%s", id, lines.Err(), stderr.String())
		return rpcResponse{}
	}

	send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + protocolVersion + `","capabilities":{},"clientInfo":{"name":"mcptest","version":"0"}}}`)
	var init struct {
		ProtocolVersion string `json:"protocolVersion"`
		ServerInfo      struct {
			Name string `json:"name"`
		} `json:"serverInfo"`
		Capabilities map[string]json.RawMessage `json:"capabilities"`
	}
	if err := json.Unmarshal(await("1").Result, &init); err != nil {
		t.Fatalf("decode initialize result: %v", err)
	}
	if init.ProtocolVersion != protocolVersion {
		t.Errorf("protocolVersion = %q, want %q", init.ProtocolVersion, protocolVersion)
	}
	if init.ServerInfo.Name != "mcp-conformance-test-server" {
		t.Errorf("serverInfo.name = %q, want mcp-conformance-test-server", init.ServerInfo.Name)
	}
	if _, ok := init.Capabilities["tools"]; !ok {
		t.Errorf("capabilities has no tools: %v", init.Capabilities)
	}

	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	send(`{"jsonrpc":"2.0","id":"two","method":"tools/list"}`)
	names := toolNames(t, await(`"two"`).Result)
	for _, want := range []string{"test_simple_text", "test_error_handling", "json_schema_2020_12_tool"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list has no %q; got %v", want, names)
		}
	}
}

func toolNames(t *testing.T, result []byte) []string {
	t.Helper()
	var list struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(result, &list); err != nil {
		t.Fatalf("decode tools/list result: %v\n%s", err, result)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// serverEverythingTools are tools that @modelcontextprotocol/server-everything
// 2026.8.31 always lists (some others depend on the client's capabilities).
var serverEverythingTools = []string{"echo", "get-sum", "get-tiny-image", "trigger-long-running-operation"}

func TestInspectorServerEverythingStdio(t *testing.T) {
	target := mcptest.ServerEverything(t)

	out, err := mcptest.RunInspector(t, t.Context(), target, "--method", "tools/list")
	if err != nil {
		t.Fatal(err)
	}
	names := toolNames(t, out)
	for _, want := range serverEverythingTools {
		if !slices.Contains(names, want) {
			t.Errorf("tools/list has no %q; got %v", want, names)
		}
	}

	out, err = mcptest.RunInspector(t, t.Context(), target,
		"--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hi")
	if err != nil {
		t.Fatal(err)
	}
	var result struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(out, &result); err != nil {
		t.Fatalf("decode tools/call result: %v\n%s", err, out)
	}
	if result.IsError || len(result.Content) != 1 || result.Content[0].Text != "Echo: hi" {
		t.Errorf("echo returned %s, want one text item \"Echo: hi\"", out)
	}
}

func TestInspectorServerEverythingHTTP(t *testing.T) {
	for _, mode := range []string{"streamableHttp", "sse"} {
		t.Run(mode, func(t *testing.T) {
			url := mcptest.ServerEverythingHTTP(t, mode)
			out, err := mcptest.RunInspector(t, t.Context(), []string{url}, "--method", "tools/list")
			if err != nil {
				t.Fatal(err)
			}
			if names := toolNames(t, out); !slices.Contains(names, "echo") {
				t.Errorf("tools/list over %s has no echo; got %v", mode, names)
			}
		})
	}
}

// Baseline of the pinned conformance suite (0.1.16) against the Go SDK's
// stateful everything-server: 32 scenarios, 44 checks, all passing.
const wantServerChecks = 44

func TestConformanceSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the official conformance suite; skipped with -short")
	}
	t.Run("server", func(t *testing.T) {
		mcptest.Conformance(t) // skip before starting anything if it is missing
		url := mcptest.EverythingServerHTTP(t, true)
		out, err := mcptest.RunConformance(t, t.Context(), "server", "--url", url, "--suite", "all")
		passed, failed, perr := mcptest.ConformanceTotals(out)
		if err != nil || perr != nil || failed != 0 || passed != wantServerChecks {
			t.Fatalf("conformance server --suite all: %d passed, %d failed (want %d, 0); run error %v; parse error %v\n%s",
				passed, failed, wantServerChecks, err, perr, out)
		}
	})
	t.Run("client", func(t *testing.T) {
		// The suite appends the URL of its own scenario server to the
		// command and names the scenario in MCP_CONFORMANCE_SCENARIO.
		mcptest.Conformance(t)
		client := mcptest.Peer(t, "everything-client")
		out, err := mcptest.RunConformance(t, t.Context(), "client", "--command", client, "--suite", "core")
		passed, failed, perr := mcptest.ConformanceTotals(out)
		if err != nil || perr != nil || failed != 0 || passed == 0 {
			t.Fatalf("conformance client --suite core: %d passed, %d failed; run error %v; parse error %v\n%s",
				passed, failed, err, perr, out)
		}
		t.Logf("conformance client --suite core: %d checks passed", passed)
	})
}

func TestRedis(t *testing.T) {
	url := mcptest.Redis(t)
	if !strings.HasPrefix(url, "redis://") {
		t.Fatalf("Redis() = %q, want a redis:// URL", url)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "redis://"), "/0")
	var d net.Dialer
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A key set and read back proves a working server, not just a socket.
	if _, err := io.WriteString(c, "SET mcptest 42\r\nGET mcptest\r\n"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	var got []string
	for range 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read reply: %v (so far %q)", err, got)
		}
		got = append(got, strings.TrimSpace(line))
	}
	if want := []string{"+OK", "$2", "42"}; !slices.Equal(got, want) {
		t.Errorf("replies = %q, want %q", got, want)
	}
}

func TestConformanceTotals(t *testing.T) {
	tests := []struct {
		name           string
		in             string
		passed, failed int
		wantErr        bool
	}{
		{"last total wins", "Total: 1 passed, 2 failed\n✓ x: 1 passed, 0 failed\nTotal: 44 passed, 0 failed\n", 44, 0, false},
		{"client form with warnings", "Total: 239 passed, 3 failed, 0 warnings\n", 239, 3, false},
		{"no total", "Passed: 3/3, 0 failed, 0 warnings\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			passed, failed, err := mcptest.ConformanceTotals([]byte(tt.in))
			if (err != nil) != tt.wantErr || passed != tt.passed || failed != tt.failed {
				t.Errorf("ConformanceTotals = %d, %d, %v; want %d, %d, error %v", passed, failed, err, tt.passed, tt.failed, tt.wantErr)
			}
		})
	}
}
