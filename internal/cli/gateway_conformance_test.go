package cli

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// gwRunBinary starts `tollgate gateway --listen` over the gateway file
// server (the text of one `servers:` item) and waits until its HTTP front
// answers; it returns the MCP endpoint URL.
func gwRunBinary(t *testing.T, server string) string {
	t.Helper()
	bin := mcptest.Tollgate(t)
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, []byte("servers:\n"+server), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(mcptest.FreePort(t))
	cmd := exec.Command(bin, "gateway", "-c", file, "--state", "memory", "--listen", addr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("tollgate gateway did not stop within 15 s of SIGINT")
		}
		if t.Failed() {
			t.Logf("tollgate gateway stderr:\n%s", stderr.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tollgate gateway did not listen on %s: %v", addr, err)
		}
		select {
		case err := <-done:
			t.Fatalf("tollgate gateway exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "http://" + addr + "/mcp"
}

// The official suite checks the server's own tool names, so the server is
// served unprefixed (prefix: ""); through the gateway it must pass what the
// Go SDK everything-server passes directly and fail nothing.
func TestGatewayConformanceStdioServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the official conformance suite; skipped with -short")
	}
	mcptest.Conformance(t)
	server := mcptest.Peer(t, "everything-server")
	url := gwRunBinary(t, "  everything:\n    command: ["+strconv.Quote(server)+"]\n    prefix: \"\"\n")
	passed, failed, out := htConformance(t, url)
	if failed != 0 || passed < htConformanceBaseline {
		t.Fatalf("through the gateway: %d passed, %d failed (want >= %d, 0)\n%s", passed, failed, htConformanceBaseline, out)
	}
	t.Logf("conformance through the gateway over stdio: %d passed", passed)
}

func TestGatewayConformanceHTTPServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the official conformance suite; skipped with -short")
	}
	mcptest.Conformance(t)
	upstream := mcptest.EverythingServerHTTP(t, true)
	url := gwRunBinary(t, "  everything:\n    url: "+strconv.Quote(upstream)+"\n    prefix: \"\"\n")
	passed, failed, out := htConformance(t, url)
	if failed != 0 || passed < htConformanceBaseline {
		t.Fatalf("through the gateway: %d passed, %d failed (want >= %d, 0)\n%s", passed, failed, htConformanceBaseline, out)
	}
	t.Logf("conformance through the gateway over HTTP: %d passed", passed)
}
