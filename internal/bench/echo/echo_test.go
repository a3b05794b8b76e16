package echo

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHandle(t *testing.T) {
	log := filepath.Join(t.TempDir(), "calls.log")
	s, err := New(Options{CallLog: log})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct{ in, want string }{
		{`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26"}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-03-26","capabilities":{"tools":{}},"serverInfo":{"name":"tollgate-bench-echo","version":"1.0.0"}}}`},
		{`{"jsonrpc":"2.0","method":"notifications/initialized"}`, ``},
		{`{"jsonrpc":"2.0","id":"a","method":"ping"}`, `{"jsonrpc":"2.0","id":"a","result":{}}`},
		{`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"m":"x\"<"}}}`,
			`{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"{\"m\":\"x\\\"\u003c\"}"}]}}`},
		{`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"fail","arguments":{"amount":1}}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"failed: {\"amount\":1}"}],"isError":true}}`},
		{`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"x"}}`,
			`{"jsonrpc":"2.0","id":4,"result":{"content":[{"type":"text","text":"{}"}]}}`},
		{`{"jsonrpc":"2.0","id":5,"method":"nope"}`, `{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"method not found: nope"}}`},
	} {
		if got := string(s.Handle([]byte(tc.in))); got != tc.want {
			t.Errorf("Handle(%s)\n got %s\nwant %s", tc.in, got, tc.want)
		}
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\"tool\":\"echo\",\"arguments\":{\"m\":\"x\\\"<\"}}\n{\"tool\":\"fail\",\"arguments\":{\"amount\":1}}\n{\"tool\":\"x\",\"arguments\":{}}\n"
	if string(data) != want {
		t.Errorf("call log:\n%s\nwant:\n%s", data, want)
	}
}

func TestBigAndList(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Result struct {
			Content []struct{ Text string } `json:"content"`
			Tools   []struct{ Name string } `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(s.Handle([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"big"}}`)), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Result.Content) != 1 || len(r.Result.Content[0].Text) != BigSize {
		t.Errorf("big: %d contents", len(r.Result.Content))
	}
	if err := json.Unmarshal(s.Handle([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Result.Tools) != 3 || r.Result.Tools[0].Name != ToolEcho {
		t.Errorf("default tools: %+v", r.Result.Tools)
	}
	fixture := filepath.Join("..", "..", "..", "testdata", "fusionauth-tools.json")
	s, err = New(Options{ToolsFile: fixture})
	if err != nil {
		t.Fatal(err)
	}
	out := s.Handle([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if bytes.IndexByte(out, '\n') >= 0 {
		t.Error("the tools/list answer spans lines")
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Result.Tools) != 323 {
		t.Errorf("fixture: %d tools, want 323", len(r.Result.Tools))
	}
}

func TestStdioAndHTTP(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	in := strings.NewReader("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\n\n{\"jsonrpc\":\"2.0\",\"method\":\"x\"}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}")
	if err := s.ServeStdio(in, &out); err != nil {
		t.Fatal(err)
	}
	if want := "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}\n"; out.String() != want {
		t.Errorf("stdio:\n%s\nwant:\n%s", out.String(), want)
	}

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	post := func(body string) *http.Response {
		resp, err := http.Post(srv.URL+"/mcp", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") == "" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("initialize: %s %v %s", resp.Status, resp.Header, body)
	}
	resp = post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("notification: %s, want 202", resp.Status)
	}
	resp, err = http.Get(srv.URL + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %s, want 405", resp.Status)
	}
}
