package streamhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// TestFrontSubscriptionsListen: a Go SDK client of revision 2026-07-28
// (a real peer of the released revision) talks to the HTTP front, which
// serves it statelessly over the shared upstream (a Go SDK server). Its
// subscriptions/listen stream replaces the GET stream: the server's own
// tools/list_changed reaches it (the mux routes it by its subscription
// id), and so does the one Tollgate sends when a reload hides a tool,
// after which the hidden tool is not listed, exactly as on the GET stream.
func TestFrontSubscriptionsListen(t *testing.T) {
	var g *gate.Gate
	hs, srv, _ := newSDKFront(t, "", gateOpt(func(gg *gate.Gate) { g = gg }))
	changed := make(chan struct{}, 16)
	client := sdk.NewClient(&sdk.Implementation{Name: "listen-test", Version: "1"}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) { changed <- struct{}{} },
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: hs.URL}, &sdk.ClientSessionOptions{ProtocolVersion: mcp.Version20260728})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if v := cs.InitializeResult().ProtocolVersion; v != mcp.Version20260728 {
		t.Fatalf("negotiated %q, want %s", v, mcp.Version20260728)
	}
	names := func() []string {
		t.Helper()
		lt, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tl := range lt.Tools {
			out = append(out, tl.Name)
		}
		return out
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no notifications/tools/list_changed on the listen stream after %s", what)
		}
	}
	if got := names(); !slices.Contains(got, "count") {
		t.Fatalf("tools %v, want count listed", got)
	}
	// Wait for the server to acknowledge the subscription: the SDK opens it
	// in the background. A change made before would be lost, so the
	// change is made again until it is seen.
	added := 0
	deadline := time.Now().Add(20 * time.Second)
	for seen := false; !seen; {
		added++
		sdk.AddTool(srv.srv, &sdk.Tool{Name: "added" + string(rune('a'+added%26))},
			func(context.Context, *sdk.CallToolRequest, noArgs) (*sdk.CallToolResult, any, error) {
				return &sdk.CallToolResult{}, nil, nil
			})
		select {
		case <-changed:
			seen = true
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the server's tools/list_changed never reached the listen stream")
			}
		}
	}
	for len(changed) > 0 {
		<-changed
	}
	p, err := policy.Load("hide.yaml", []byte("version: \"1\"\nhide: [secret, count]\n"))
	if err != nil {
		t.Fatal(err)
	}
	g.SetPolicy(p)
	wait("a reload that hides a tool")
	if got := names(); slices.Contains(got, "count") {
		t.Errorf("tools %v after the reload: the hidden tool is still listed", got)
	}
}

// TestFrontStatelessTaskHeader: the tasks extension routes tasks/get,
// tasks/update and tasks/cancel by Mcp-Name = params.taskId. When the
// header is sent it must name the task the body names (a load balancer
// may have routed on it); a mismatch is HeaderMismatch, as for tools/call.
func TestFrontStatelessTaskHeader(t *testing.T) {
	hs, _, _ := newFront(t)
	c := newFrontClient(t, hs.URL)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`
	body := `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"taskId":"t-1",` + meta + `}}`
	base := []string{HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "tasks/get"}
	status, a := c.call(body, append(base[:4:4], HeaderName, "t-2")...)
	if status != http.StatusBadRequest || rpcErrorCode(t, a) != CodeHeaderMismatch {
		t.Fatalf("Mcp-Name t-2 for task t-1: HTTP %d %s, want 400 with -32020", status, a)
	}
	for _, hdr := range [][]string{append(base[:4:4], HeaderName, "t-1"), base} {
		if status, a := c.call(body, hdr...); status == http.StatusBadRequest {
			t.Errorf("headers %q: HTTP %d %s, want the request relayed", hdr, status, a)
		}
	}
}

// TestFrontStatelessTasksStayWithTheirCaller: over the stateless front,
// every request is its own pump, but a task stays with the identity whose
// call created it: the creator reads it in a later request; another
// caller, or one without an identity, asking for the same task id gets
// the server's own answer for an unknown task — while the server itself
// would hand the task to anyone who names it.
func TestFrontStatelessTasksStayWithTheirCaller(t *testing.T) {
	hs, _, _ := newFront(t, func(o *ServerOptions) {
		o.Identity = func(r *http.Request) string { return r.Header.Get("X-Who") }
	})
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{"extensions":{"io.modelcontextprotocol/tasks":{}}}}`
	c := newFrontClient(t, hs.URL)
	_, a := c.call(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"long","arguments":{},`+meta+`}}`,
		HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "tools/call", HeaderName, "long", "X-Who", "alice")
	var created struct {
		Result struct {
			ResultType, TaskID string
		} `json:"result"`
	}
	if err := json.Unmarshal(a, &created); err != nil || created.Result.TaskID == "" {
		t.Fatalf("tools/call: %s (%v), want a task", a, err)
	}
	get := func(who string) []byte {
		t.Helper()
		body := `{"jsonrpc":"2.0","id":2,"method":"tasks/get","params":{"taskId":"` + created.Result.TaskID + `",` + meta + `}}`
		_, a := c.call(body, HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "tasks/get", HeaderName, created.Result.TaskID, "X-Who", who)
		return a
	}
	if a := get("alice"); !bytes.Contains(a, []byte("the secret result")) {
		t.Fatalf("the creator's tasks/get: %s", a)
	}
	for _, who := range []string{"mallory", ""} {
		a := get(who)
		if bytes.Contains(a, []byte("the secret result")) || !bytes.Contains(a, []byte("Task not found")) {
			t.Errorf("tasks/get by %q: %s, want the server's unknown-task answer", who, a)
		}
	}
}

// TestFrontListenNeedsEventStream: a subscriptions/listen from a client
// that accepts only JSON is refused (406) at once, rather than held until
// the client gives up.
func TestFrontListenNeedsEventStream(t *testing.T) {
	hs, _, _ := newFront(t)
	c := newFrontClient(t, hs.URL)
	c.json = true
	body := `{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"},"notifications":{"toolsListChanged":true}}}`
	status, a := c.call(body, HeaderProtocolVersion, mcp.Version20260728, HeaderMethod, "subscriptions/listen")
	if status != http.StatusNotAcceptable || rpcErrorCode(t, a) != jsonrpc.CodeInvalidRequest {
		t.Fatalf("HTTP %d %s, want 406 with -32600", status, a)
	}
}

// TestFrontStatelessRoundsAreOneCall: over the stateless front, the first
// round of a call and its retry are separate POSTs, each through its own
// pump: a Go SDK server of revision 2026-07-28 answers input_required with
// a requestState, the Go SDK client retries with the elicited answer, and
// under a limit of one call an hour the retry passes while the next call
// is denied.
func TestFrontStatelessRoundsAreOneCall(t *testing.T) {
	hs, srv, _ := newSDKFront(t, "version: \"1\"\ntools:\n  confirm:\n    rules:\n      - name: one an hour\n        rate_limit: 1/hour\n        on_deny: \"one confirmation an hour\"\n")
	sdk.AddTool(srv.srv, &sdk.Tool{Name: "confirm", Description: "asks before it answers"},
		func(_ context.Context, req *sdk.CallToolRequest, _ noArgs) (*sdk.CallToolResult, any, error) {
			if r, ok := req.Params.InputResponses["ok"].(*sdk.ElicitResult); ok && r.Action == "accept" && req.Params.RequestState == "step-1" {
				return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "confirmed"}}}, nil, nil
			}
			return &sdk.CallToolResult{
				InputRequests: sdk.InputRequestMap{"ok": &sdk.ElicitParams{Message: "sure?", RequestedSchema: map[string]any{"type": "object"}}},
				RequestState:  "step-1",
			}, nil, nil
		})
	asked := 0
	client := sdk.NewClient(&sdk.Implementation{Name: "rounds-test", Version: "1"}, &sdk.ClientOptions{
		ElicitationHandler: func(context.Context, *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			asked++
			return &sdk.ElicitResult{Action: "accept", Content: map[string]any{}}, nil
		},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: hs.URL}, &sdk.ClientSessionOptions{ProtocolVersion: mcp.Version20260728})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	text := func(r *sdk.CallToolResult) string {
		var b strings.Builder
		for _, c := range r.Content {
			if tc, ok := c.(*sdk.TextContent); ok {
				b.WriteString(tc.Text)
			}
		}
		return b.String()
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "confirm"})
	if err != nil {
		t.Fatal(err)
	}
	if asked != 1 || res.IsError || text(res) != "confirmed" {
		t.Fatalf("asked %d times, result %q (isError %v); want the retry confirmed", asked, text(res), res.IsError)
	}
	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "confirm"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.IsError || !strings.Contains(text(res), "one confirmation an hour") {
		t.Fatalf("second call: %q (isError %v), want the limit's denial", text(res), res.IsError)
	}
}
