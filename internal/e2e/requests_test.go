package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// The policy's requests section judges what the real server-everything
// serves as resources: a read its rules refuse never reaches the server
// and is answered with the reason; another read is served.
func TestRequestsRulesJudgeResourceReads(t *testing.T) {
	const pol = `version: "1"
requests:
  resources/read:
    rules:
      - name: no static documents
        action: deny
        conditions: [{path: args.uri, op: starts_with, value: "demo://resource/static/"}]
`
	p := startTollgate(t, pol, nil, mcptest.ServerEverything(t)...)
	p.send(t,
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":1,"method":"resources/list","params":{}}`)
	p.next(t, "0")
	list := p.next(t, "1")
	b, _ := json.Marshal(list)
	var static string
	for _, part := range strings.Split(string(b), `"`) {
		if strings.HasPrefix(part, "demo://resource/static/") {
			static = part
			break
		}
	}
	if static == "" {
		t.Fatalf("resources/list named no static resource: %s", b)
	}
	p.send(t,
		`{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"`+static+`"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"demo://resource/dynamic/text/1"}}`)
	refused := p.next(t, "2")
	b, _ = json.Marshal(refused)
	if !strings.Contains(string(b), `refused by Tollgate's policy: denied by rule \"no static documents\"`) || refused["result"] != nil {
		t.Errorf("read of %s answered %s, want the refusal", static, b)
	}
	served := p.next(t, "3")
	b, _ = json.Marshal(served)
	if served["error"] != nil || !strings.Contains(string(b), "demo://resource/dynamic/text/1") {
		t.Errorf("the dynamic resource was not served: %s", b)
	}
}
