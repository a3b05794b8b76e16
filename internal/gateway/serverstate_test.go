package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tollgate-mcp/tollgate/internal/audit"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// A server going down and coming back shows in the metrics
// (tollgate_gateway_server_up) and in tollgate status (read from the audit
// trail's server lines, with a problem while it is down).
func TestGatewayServerStateInStatusAndMetrics(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	down := filepath.Join(dir, "down")
	config := writeFile(t, dir, "gateway.yaml", `restart:
  min_backoff: 50ms
  max_backoff: 200ms
servers:
  mine:
    command: `+yamlList([]string{self, "-test.run=^$"})+`
    env:
      `+envTestServer+`: "1"
      GW_DOWN_FILE: `+strconv.Quote(down)+`
`)
	addr := "127.0.0.1:" + strconv.Itoa(mcptest.FreePort(t))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	gc := connect(t, ctx, config, "--metrics-addr", addr)

	gauge := func() string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, `tollgate_gateway_server_up{server="mine"} `); ok {
				return v
			}
		}
		return ""
	}
	status := func() *audit.Summary {
		out, err := exec.Command(mcptest.Tollgate(t), "status", "--audit-dir", gc.audit, "--json").Output()
		if err != nil {
			t.Fatalf("tollgate status: %v", err)
		}
		var rep audit.Summary
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		return &rep
	}
	server := func(rep *audit.Summary) audit.ServerEntry {
		for _, se := range rep.Servers {
			if se.Server == "mine" {
				return se
			}
		}
		return audit.ServerEntry{}
	}

	mcptest.Eventually(t, 10*time.Second, func() bool { return gauge() == "1" }, "server_up 1 for mine")
	// The audit line follows the gauge: the writer appends lines after a
	// rest (audit.DefaultLinger).
	var se audit.ServerEntry
	mcptest.Eventually(t, 10*time.Second, func() bool {
		se = server(status())
		return se.State != ""
	}, "status to show mine")
	if se.State != "up" || se.Downs != 0 {
		t.Errorf("status after start: %+v", se)
	}

	// mine ends and cannot start again.
	if err := os.WriteFile(down, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _ = gc.cs.CallTool(ctx, &sdk.CallToolParams{Name: "mine__crash", Arguments: map[string]any{}})
	mcptest.Eventually(t, 10*time.Second, func() bool { return gauge() == "0" }, "server_up 0 for mine")
	var rep *audit.Summary
	mcptest.Eventually(t, 10*time.Second, func() bool {
		rep = status()
		return server(rep).State == "down"
	}, "status to show mine down")
	if se := server(rep); se.Downs < 1 || se.LastError == "" {
		t.Errorf("status while down: %+v", se)
	}
	if !strings.Contains(strings.Join(rep.Problems, "\n"), "server mine of instance") {
		t.Errorf("no problem reported while mine is down: %q", rep.Problems)
	}
	out, err := exec.Command(mcptest.Tollgate(t), "status", "--audit-dir", gc.audit).Output()
	if err != nil || !strings.Contains(string(out), "SERVERS (tollgate gateway)") || !strings.Contains(string(out), "down") {
		t.Errorf("tollgate status: %v\n%s", err, out)
	}

	// It can start again: up in both.
	if err := os.Remove(down); err != nil {
		t.Fatal(err)
	}
	mcptest.Eventually(t, 10*time.Second, func() bool { return gauge() == "1" }, "server_up 1 for mine again")
	mcptest.Eventually(t, 10*time.Second, func() bool { return server(status()).State == "up" }, "status to show mine up again")
}
