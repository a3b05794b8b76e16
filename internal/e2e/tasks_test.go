package e2e

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// next reads what Tollgate writes until the response to id, and returns it
// (notifications and other lines before it are skipped).
func (p *tollgateProc) next(t *testing.T, id string) map[string]any {
	t.Helper()
	got := make(chan map[string]any, 1)
	go func() {
		for p.out.Scan() {
			var m map[string]any
			if json.Unmarshal(p.out.Bytes(), &m) == nil && m["id"] != nil {
				if b, _ := json.Marshal(m["id"]); string(b) == id {
					got <- m
					return
				}
			}
		}
		got <- nil
	}()
	select {
	case m := <-got:
		if m == nil {
			t.Fatalf("output ended before the answer to %s; stderr:\n%s", id, p.stderr.String())
		}
		return m
	case <-time.After(30 * time.Second):
		t.Fatalf("no answer to %s; stderr:\n%s", id, p.stderr.String())
		return nil
	}
}

func (p *tollgateProc) send(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if _, err := io.WriteString(p.stdin, l+"\n"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTaskResultIsInspected: server-everything's simulate-research-query
// runs as a task when the call asks for one (2025-11-25), and its report,
// read later with tasks/result, repeats the topic. A key sent as the topic
// comes back redacted, as in an answer that comes at once: asking for a
// result as a task does not take it past the policy's inspect.
func TestTaskResultIsInspected(t *testing.T) {
	const pol = "version: \"1\"\ninspect:\n  simulate-research-query:\n    results: {secret: redact}\n"
	p := startTollgate(t, pol, nil, mcptest.ServerEverything(t)...)
	p.send(t,
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"tasks":{}},"clientInfo":{"name":"e2e","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"simulate-research-query","arguments":{"topic":"AKIAIOSFODNN7EXAMPLE"},"task":{"ttl":60000}}}`)
	p.next(t, "0")
	created := p.next(t, "1")
	res, _ := created["result"].(map[string]any)
	task, _ := res["task"].(map[string]any)
	id, _ := task["taskId"].(string)
	if id == "" {
		t.Fatalf("the call made no task: %v", created)
	}
	p.send(t, `{"jsonrpc":"2.0","id":2,"method":"tasks/result","params":{"taskId":"`+id+`"}}`)
	answer := p.next(t, "2")
	b, _ := json.Marshal(answer)
	if !strings.Contains(string(b), "Research Report") {
		t.Fatalf("tasks/result answered %s, want the report", b)
	}
	if strings.Contains(string(b), "AKIAIOSFODNN7EXAMPLE") || !strings.Contains(string(b), "[REDACTED:aws_access_key]") {
		t.Errorf("tasks/result answered %s: the key is not redacted", b)
	}
}
