package scan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// The fork-and-exec trick: with SCAN_FAKE_SERVER set, the test binary is a
// fake stdio MCP server instead of running tests.
func TestMain(m *testing.M) {
	switch os.Getenv("SCAN_FAKE_SERVER") {
	case "":
		os.Exit(m.Run())
	case "paged":
		fakeStdioServer(false)
	case "crash":
		fmt.Fprintln(os.Stderr, "fatal: cannot open database /nonexistent")
		os.Exit(3)
	case "error":
		fakeStdioServer(true)
	}
	os.Exit(0)
}

// fakeTools pages: 3 pages of tools, chained by cursors.
var fakePages = [][]Tool{
	{{Name: "list_items", Description: "List items"}, {Name: "get_item", Description: "Get an item"}},
	{{Name: "delete_item", Description: "Delete an item"}},
	{{Name: "create_charge", Description: "Charge a card", InputSchema: json.RawMessage(`{"type":"object","properties":{"amount":{"type":"integer"}}}`)}},
}

// fakeStdioServer speaks newline-delimited JSON-RPC. Before answering
// tools/list it sends a notification and a ping request, and waits for the
// ping's answer: a client that does not answer pings hangs here.
func fakeStdioServer(failList bool) {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	out := json.NewEncoder(os.Stdout)
	pingAnswered := false
	for in.Scan() {
		var m message
		if json.Unmarshal(in.Bytes(), &m) != nil {
			continue
		}
		switch {
		case m.Method == "initialize":
			out.Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{
				"protocolVersion": "2025-06-18",
				"serverInfo":      map[string]string{"name": "fake", "version": "0.0.1"},
				"capabilities":    map[string]any{"tools": map[string]any{}},
			}})
		case m.Method == "tools/list":
			if failList {
				out.Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID, "error": map[string]any{"code": -32603, "message": "backend unavailable"}})
				continue
			}
			if !pingAnswered {
				fmt.Fprintln(os.Stdout, `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hello"}}`)
				fmt.Fprintln(os.Stdout, `{"jsonrpc":"2.0","id":"srv-1","method":"ping"}`)
				// Read until the ping's answer arrives.
				for in.Scan() {
					var r message
					if json.Unmarshal(in.Bytes(), &r) == nil && string(r.ID) == `"srv-1"` && r.Result != nil {
						pingAnswered = true
						break
					}
				}
			}
			var p struct {
				Cursor string `json:"cursor"`
			}
			json.Unmarshal(m.Params, &p)
			page := 0
			fmt.Sscanf(p.Cursor, "page-%d", &page)
			res := map[string]any{"tools": fakePages[page]}
			if page+1 < len(fakePages) {
				res["nextCursor"] = fmt.Sprintf("page-%d", page+1)
			}
			out.Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": res})
		}
	}
}
