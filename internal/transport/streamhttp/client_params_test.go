package streamhttp

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

func TestToolParamHeaders(t *testing.T) {
	for _, tc := range []struct {
		name, schema string
		want         []paramHeader
		bad          string // part of the error; "" for valid
	}{
		{name: "none", schema: `{"type":"object","properties":{"q":{"type":"string"}}}`},
		{name: "top and nested", schema: `{"type":"object","properties":{
			"region":{"type":"string","x-mcp-header":"Region"},
			"opts":{"type":"object","properties":{"limit":{"type":"integer","x-mcp-header":"Limit"}}}}}`,
			want: []paramHeader{{"Region", []string{"region"}, "string"}, {"Limit", []string{"opts", "limit"}, "integer"}}},
		{name: "number type", schema: `{"properties":{"n":{"type":"number","x-mcp-header":"N"}}}`, bad: "type is not"},
		{name: "under items", schema: `{"properties":{"a":{"type":"array","items":{"type":"string","x-mcp-header":"A"}}}}`, bad: "not on a parameter"},
		{name: "under anyOf", schema: `{"properties":{"a":{"anyOf":[{"type":"string","x-mcp-header":"A"}]}}}`, bad: "not on a parameter"},
		{name: "on the root", schema: `{"type":"object","x-mcp-header":"Root"}`, bad: "schema root"},
		{name: "not a token", schema: `{"properties":{"a":{"type":"string","x-mcp-header":"Bad Name"}}}`, bad: "token"},
		{name: "empty", schema: `{"properties":{"a":{"type":"string","x-mcp-header":""}}}`, bad: "token"},
		{name: "twice", schema: `{"properties":{"a":{"type":"string","x-mcp-header":"X"},"b":{"type":"boolean","x-mcp-header":"x"}}}`, bad: "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := toolParamHeaders([]byte(`{"name":"t","inputSchema":` + tc.schema + `}`))
			if tc.bad != "" {
				if err == nil || !strings.Contains(err.Error(), tc.bad) {
					t.Fatalf("err = %v, want one about %q", err, tc.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(paramHeader{}), sortHeaders()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func sortHeaders() cmp.Option {
	return cmp.Transformer("sort", func(in []paramHeader) map[string]string {
		out := map[string]string{}
		for _, h := range in {
			out[h.name] = strings.Join(h.path, ".")
		}
		return out
	})
}

func TestHeaderText(t *testing.T) {
	for in, want := range map[string]string{
		`"us-west1"`: "us-west1", `42`: "42", `-7`: "-7", `42.0`: "42", `4.2e1`: "42", `true`: "true", `false`: "false",
	} {
		if got, ok := headerText([]byte(in)); !ok || got != want {
			t.Errorf("headerText(%s) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{`null`, `1.5`, `{}`, `[]`, ``} {
		if got, ok := headerText([]byte(in)); ok {
			t.Errorf("headerText(%s) = %q, want no header", in, got)
		}
	}
}

// TestClientMirrorsParamHeaders: against a 2026-07-28 server, the
// ClientConn leaves a tool with invalid annotations out of tools/list and
// sends a tools/call's annotated arguments as Mcp-Param headers, encoded,
// and none for an absent or null argument.
func TestClientMirrorsParamHeaders(t *testing.T) {
	var mu sync.Mutex
	var calls []http.Header
	s := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m, _ := jsonrpc.Parse(body, false)
		w.Header().Set("Content-Type", "application/json")
		switch m.Method {
		case "tools/list":
			w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(`{"tools":[
				{"name":"execute_sql","inputSchema":{"type":"object","properties":{
					"region":{"type":"string","x-mcp-header":"Region"},
					"query":{"type":"string"},
					"opts":{"type":"object","properties":{"dry":{"type":"boolean","x-mcp-header":"Dry"},"limit":{"type":"integer","x-mcp-header":"Limit"}}}}}},
				{"name":"broken","inputSchema":{"type":"object","properties":{"n":{"type":"number","x-mcp-header":"N"}}}},
				{"name":"plain","inputSchema":{"type":"object"}}],"nextCursor":"c2"}`)))
		default:
			mu.Lock()
			calls = append(calls, r.Header.Clone())
			mu.Unlock()
			w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(`{"content":[]}`)))
		}
	}))
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	write(t, c, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{`+meta+`}}`)
	var list struct {
		Result struct {
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
			NextCursor string `json:"nextCursor"`
		} `json:"result"`
	}
	if err := json.Unmarshal(fr.next(t), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Result.Tools {
		names = append(names, tool.Name)
	}
	if diff := cmp.Diff([]string{"execute_sql", "plain"}, names); diff != "" || list.Result.NextCursor != "c2" {
		t.Errorf("listed (-want +got):\n%s\nnextCursor %q", diff, list.Result.NextCursor)
	}
	write(t, c, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_sql","arguments":{"region":"Zürich","query":"x","opts":{"dry":true,"limit":10.0}},`+meta+`}}`)
	fr.next(t)
	write(t, c, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"execute_sql","arguments":{"region":null,"query":"x"},`+meta+`}}`)
	fr.next(t)
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("%d calls reached the server", len(calls))
	}
	for k, want := range map[string]string{"Mcp-Param-Region": "=?base64?WsO8cmljaA==?=", "Mcp-Param-Dry": "true", "Mcp-Param-Limit": "10"} {
		if got := calls[0].Get(k); got != want {
			t.Errorf("call 1: %s = %q, want %q", k, got, want)
		}
	}
	for _, k := range []string{"Mcp-Param-Region", "Mcp-Param-Dry", "Mcp-Param-Limit"} {
		if _, ok := calls[1][k]; ok {
			t.Errorf("call 2 has %s, for an argument that is null or absent", k)
		}
	}
}

// TestClientRefreshesToolsOnHeaderMismatch: a tools/call refused with
// HeaderMismatch (the client never listed the tools) makes the ClientConn
// read every tools/list page itself, unrelayed, and send the call once
// more with the headers; a second refusal is relayed as it is.
func TestClientRefreshesToolsOnHeaderMismatch(t *testing.T) {
	var mu sync.Mutex
	var methods []string
	s := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m, _ := jsonrpc.Parse(body, false)
		mu.Lock()
		methods = append(methods, m.Method)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch m.Method {
		case "tools/list":
			if !strings.Contains(string(m.Params), `"cursor":"p2"`) {
				w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(`{"tools":[{"name":"other","inputSchema":{"type":"object"}}],"nextCursor":"p2"}`)))
				return
			}
			sw := sseWriter(w)
			sw.Write(sse.Event{Data: jsonrpc.AppendResult(nil, m.ID, []byte(`{"tools":[{"name":"execute_sql","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}}]}`))})
		case "tools/call":
			region := string(mcp.ParamsValue(mcp.ParamsValue(m.Params, "arguments"), "region"))
			if region != `"eu"` && r.Header.Get("Mcp-Param-Region") != strings.Trim(region, `"`) {
				w.WriteHeader(http.StatusBadRequest)
				w.Write(jsonrpc.AppendError(nil, m.ID, CodeHeaderMismatch, "header mismatch: Mcp-Param-Region", nil))
				return
			}
			if region == `"eu"` { // refused whatever the headers
				w.WriteHeader(http.StatusBadRequest)
				w.Write(jsonrpc.AppendError(nil, m.ID, CodeHeaderMismatch, "header mismatch: always", nil))
				return
			}
			w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(`{"content":[]}`)))
		}
	}))
	c := dialT(t, s.URL, ClientOptions{})
	fr := readFrames(c)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	write(t, c, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute_sql","arguments":{"region":"us-west1"},`+meta+`}}`)
	if got, want := string(fr.next(t)), `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`; got != want {
		t.Errorf("answer %s, want %s", got, want)
	}
	mu.Lock()
	if diff := cmp.Diff([]string{"tools/call", "tools/list", "tools/list", "tools/call"}, methods); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	methods = nil
	mu.Unlock()
	write(t, c, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_sql","arguments":{"region":"eu"},`+meta+`}}`)
	if got := string(fr.next(t)); !strings.Contains(got, `"id":2`) || !strings.Contains(got, "-32020") {
		t.Errorf("answer %s, want the server's HeaderMismatch", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"tools/call", "tools/list", "tools/list", "tools/call"}, methods); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
