// Package demo is the built-in demonstration of `tollgate demo`: a small MCP
// server with a few realistic tools, the policy that guards it, and the
// scripted agent session played against it.
package demo

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Policy is the demo policy, in the policy language.
//
//go:embed policy.yaml
var Policy []byte

type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

const toolsJSON = `[
 {"name":"get_weather","description":"Current weather for a city","inputSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"annotations":{"readOnlyHint":true}},
 {"name":"search_docs","description":"Search the product documentation","inputSchema":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]},"annotations":{"readOnlyHint":true}},
 {"name":"read_file","description":"Read a file from the project","inputSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]},"annotations":{"readOnlyHint":true}},
 {"name":"send_email","description":"Send an email","inputSchema":{"type":"object","properties":{"to":{"type":"string"},"subject":{"type":"string"},"body":{"type":"string"}},"required":["to","subject"]}},
 {"name":"create_refund","description":"Refund a charge to the customer's card","inputSchema":{"type":"object","properties":{"charge_id":{"type":"string"},"amount":{"type":"number"}},"required":["charge_id","amount"]}},
 {"name":"delete_repository","description":"Permanently delete a repository","inputSchema":{"type":"object","properties":{"repo":{"type":"string"}},"required":["repo"]},"annotations":{"destructiveHint":true}}
]`

// Serve runs the demo MCP server on newline-delimited JSON-RPC until r ends.
func Serve(r io.Reader, w io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	bw := bufio.NewWriter(w)
	for sc.Scan() {
		var req request
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil || req.ID == nil {
			continue // notifications and responses need no answer
		}
		result, rpcErr := handle(req)
		var out []byte
		if rpcErr != "" {
			out = fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":%q}}`, req.ID, rpcErr)
		} else {
			out = fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%s,"result":%s}`, req.ID, result)
		}
		bw.Write(out)
		bw.WriteByte('\n')
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("demo server: %w", err)
		}
	}
	return sc.Err()
}

func handle(req request) (result string, rpcErr string) {
	switch req.Method {
	case "initialize":
		var p struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		_ = json.Unmarshal(req.Params, &p)
		v := p.ProtocolVersion
		if v == "" {
			v = "2025-11-25"
		}
		return fmt.Sprintf(`{"protocolVersion":%q,"capabilities":{"tools":{}},"serverInfo":{"name":"tollgate-demo","version":"1.0.0"}}`, v), ""
	case "ping":
		return `{}`, ""
	case "tools/list":
		return `{"tools":` + strings.ReplaceAll(toolsJSON, "\n", "") + `}`, ""
	case "tools/call":
		var p struct {
			Name      string         `json:"name"`
			Arguments map[string]any `json:"arguments"`
		}
		if err := json.Unmarshal(req.Params, &p); err != nil {
			return "", "invalid params"
		}
		// Like some servers, it looks a name up without regard to case or
		// surrounding spaces: a policy that matched names as written would
		// let Create_Refund past create_refund's rules.
		text, ok := call(strings.ToLower(strings.TrimSpace(p.Name)), p.Arguments)
		if !ok {
			return "", "Unknown tool: " + p.Name
		}
		b, _ := json.Marshal(map[string]any{"content": []any{map[string]any{"type": "text", "text": text}}})
		return string(b), ""
	}
	return "", "method not found: " + req.Method
}

func call(name string, a map[string]any) (string, bool) {
	switch name {
	case "get_weather":
		return fmt.Sprintf("Sunny, 21°C in %v", a["city"]), true
	case "search_docs":
		return fmt.Sprintf("3 pages match %q", a["query"]), true
	case "read_file":
		return fmt.Sprintf("(contents of %v)", a["path"]), true
	case "send_email":
		return fmt.Sprintf("Email sent to %v", a["to"]), true
	case "create_refund":
		return fmt.Sprintf("Refunded $%v on %v", a["amount"], a["charge_id"]), true
	case "delete_repository":
		return fmt.Sprintf("Deleted %v", a["repo"]), true
	}
	return "", false
}

// Summary shortens a result text for the demo table.
func Summary(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}
