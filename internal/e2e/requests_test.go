package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// The policy's requests section judges what the real server-everything
// serves as resources: a read its rules refuse never reaches the server
// and is answered with the reason; another read is served; a rate limit
// on reads holds in the default SQLite store, and each governed read is
// audited.
func TestRequestsRulesJudgeResourceReads(t *testing.T) {
	const pol = `version: "1"
requests:
  resources/read:
    rules:
      - name: no static documents
        action: deny
        conditions: [{path: args.uri, op: starts_with, value: "demo://resource/static/"}]
      - name: reads
        rate_limit: 2/minute
`
	state := t.TempDir()
	p := startTollgate(t, pol, []string{"XDG_STATE_HOME=" + state}, mcptest.ServerEverything(t)...)
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
	// One at a time: a refusal is answered at once, before an earlier
	// read's answer, and next skips what comes before the answer it waits
	// for.
	p.send(t, `{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"demo://resource/dynamic/text/2"}}`)
	if second := p.next(t, "4"); second["error"] != nil {
		t.Errorf("the second read: %v", second)
	}
	p.send(t, `{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"demo://resource/dynamic/text/3"}}`)
	third := p.next(t, "5")
	b, _ = json.Marshal(third)
	if !strings.Contains(string(b), `refused by Tollgate's policy: Rate limit of 2 per minute reached`) {
		t.Errorf("the third read in a minute answered %s, want the rate limit's refusal", b)
	}
	// Audited: the refusals by rule and by the limit, and the admitted
	// reads with their outcome and counter.
	waitAudit(t, state, `"tool":"resources/read"`, `"decision":"deny"`, `"rule":"no static documents"`)
	waitAudit(t, state, `"tool":"resources/read"`, `"decision":"deny"`, `Rate limit of 2 per minute`)
	waitAudit(t, state, `"tool":"resources/read"`, `"decision":"allow"`, `"outcome":"ok"`, `request:resources/read`)
}
