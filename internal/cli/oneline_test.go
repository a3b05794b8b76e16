package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// readlineServer is an MCP server over stdio that reads its input with
// Node's readline, as many hand-written servers do: readline ends a line at
// LF, CR or CRLF (Python's universal newlines, which the official Python
// SDK's stdio server reads with, do the same). Each tools/call it reads is
// run: its name is appended to the file argv[2].
const readlineServer = `
const fs = require("node:fs");
const log = process.argv[2];
const rl = require("node:readline").createInterface({ input: process.stdin });
const reply = (id, result) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id, result }) + "\n");
rl.on("line", (line) => {
  let m;
  try { m = JSON.parse(line); } catch { return; }
  if (m === null || typeof m !== "object" || m.id === undefined) return;
  switch (m.method) {
  case "initialize":
    return reply(m.id, { protocolVersion: m.params.protocolVersion, capabilities: { tools: {} }, serverInfo: { name: "readline", version: "1" } });
  case "tools/list":
    return reply(m.id, { tools: [{ name: "echo", inputSchema: { type: "object" } }, { name: "delete_repository", inputSchema: { type: "object" } }] });
  case "tools/call":
    if (m.params.name !== "echo" && m.params.name !== "delete_repository") {
      return process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: m.id, error: { code: -32602, message: "Unknown tool: " + m.params.name } }) + "\n");
    }
    fs.appendFileSync(log, m.params.name + "\n");
    return reply(m.id, { content: [{ type: "text", text: "ran " + m.params.name }] });
  default:
    return reply(m.id, {});
  }
});
`

const hiddenPolicy = "version: \"1\"\nhide: [delete_repository]\n"

// smuggledCall is a tools/call of the hidden tool, as a client would hide it
// inside a message the gate allows.
const smuggledCall = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_repository","arguments":{"repo":"prod"}}}`

func startReadlineServer(t *testing.T) (argv []string, ran func() []string) {
	t.Helper()
	node := mcptest.Node(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "server.js")
	log := filepath.Join(dir, "ran")
	if err := os.WriteFile(script, []byte(readlineServer), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{node, script, log}, func() []string {
		data, _ := os.ReadFile(log)
		return strings.Fields(string(data))
	}
}

// TestOneLinePerFrameOverStdio: a client puts a whole tools/call of a
// hidden tool between two CRs inside a ping (JSON white space to Tollgate,
// line breaks to a readline server). Tollgate writes each frame as one
// line, so the server reads one ping and runs nothing. Before, it ran
// delete_repository, which the gate never saw.
func TestOneLinePerFrameOverStdio(t *testing.T) {
	argv, ran := startReadlineServer(t)
	pol, err := policy.Load("policy.yaml", []byte(hiddenPolicy))
	if err != nil {
		t.Fatal(err)
	}
	g := gate.New(pol)
	g.Store = memstore.New()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	child, err := stdio.StartChild(ctx, argv, stdio.ChildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer child.Stop(time.Second)
	cr, cw := io.Pipe()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- proxy.NewHandler(g, nil).Serve(ctx, &transport.Session{ID: "s1"}, stdio.NewConn(cr, pw, 0), child.Conn())
	}()
	answers := bufio.NewReader(pr)
	ask := func(frame string) string {
		t.Helper()
		if _, err := io.WriteString(cw, frame+"\n"); err != nil {
			t.Fatal(err)
		}
		line, err := answers.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return line
	}
	ask(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	io.WriteString(cw, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	if a := ask(`{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":` + "\r" + smuggledCall + "\r" + `}}`); !strings.Contains(a, `"id":2`) {
		t.Errorf("the ping's answer: %s", a)
	}
	// A call answered after the ping shows the server read everything before it.
	if a := ask(`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{}}}`); !strings.Contains(a, "ran echo") {
		t.Errorf("echo's answer: %s", a)
	}
	if got := ran(); len(got) != 1 || got[0] != "echo" {
		t.Errorf("the server ran %q; want only echo (a smuggled call reached it)", got)
	}
	cw.Close()
	<-done
}

// TestOneLinePerFrameFromHTTP: an HTTP body may be pretty-printed JSON, its
// line breaks white space. Behind the HTTP front, a stdio server reads each
// message as one line, so the front's frame must not carry them: a body that
// is one ping to Tollgate would otherwise be three lines to the server, the
// middle one a tools/call of a hidden tool.
func TestOneLinePerFrameFromHTTP(t *testing.T) {
	argv, ran := startReadlineServer(t)
	f := htStart(t, hiddenPolicy, argv, "--state", "memory")
	s := htInit(t, f.url, nil)
	for i, body := range []string{
		"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":{\"x\":\n" + smuggledCall + "\n}}",
		"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":{\"x\":\r\n" + strings.Replace(smuggledCall, `"id":3`, `"id":6`, 1) + "\r}}",
	} {
		resp, a := s.post(body)
		if resp.StatusCode != 200 || !bytes.Contains(a, []byte(`"result"`)) {
			t.Errorf("body %d: HTTP %d %s", i, resp.StatusCode, a)
		}
	}
	if a := s.echo(7, "after"); !bytes.Contains(a, []byte("ran echo")) {
		t.Errorf("echo's answer: %s", a)
	}
	if got := ran(); len(got) != 1 || got[0] != "echo" {
		t.Errorf("the server ran %q; want only echo (a smuggled call reached it)", got)
	}
}
