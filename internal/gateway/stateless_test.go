package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// statelessClient posts 2026-07-28 requests to a gateway's HTTP front:
// no initialize, no session, the revision and the client's capabilities
// in each request's _meta and headers.
type statelessClient struct {
	t   *testing.T
	url string
	seq int
}

// startHTTPGateway starts tollgate gateway --listen on config with args,
// and returns its endpoint once it answers server/discover.
func startHTTPGateway(t *testing.T, config string, args ...string) *statelessClient {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", mcptest.FreePort(t))
	cmd := exec.Command(mcptest.Tollgate(t), append([]string{"gateway", "-c", config, "--audit", "off", "--listen", addr}, args...)...)
	cmd.Stderr = &testLog{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	c := &statelessClient{t: t, url: "http://" + addr + "/mcp"}
	mcptest.Eventually(t, 20*time.Second, func() bool {
		_, err := c.try("server/discover", `{}`)
		return err == nil
	}, "the gateway serves HTTP")
	return c
}

// call posts one request and returns its response object; it fails the
// test on a transport error.
func (c *statelessClient) call(method, params string) map[string]any {
	c.t.Helper()
	r, err := c.try(method, params)
	if err != nil {
		c.t.Fatalf("%s: %v", method, err)
	}
	return r
}

func (c *statelessClient) try(method, params string) (map[string]any, error) {
	c.seq++
	var p map[string]any
	if err := json.Unmarshal([]byte(params), &p); err != nil {
		return nil, err
	}
	p["_meta"] = map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": map[string]any{},
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": c.seq, "method": method, "params": p})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	if name, ok := p["name"].(string); ok {
		req.Header.Set("Mcp-Name", "=?base64?"+base64.StdEncoding.EncodeToString([]byte(name))+"?=")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, raw)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// The answer is the event whose data has our id.
		sc := bufio.NewScanner(bytes.NewReader(raw))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data:")
			if !ok {
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(strings.TrimSpace(data)), &m) == nil && m["id"] != nil {
				return m, nil
			}
		}
		return nil, fmt.Errorf("no answer in the event stream: %s", raw)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("unreadable answer %s: %w", raw, err)
	}
	return m, nil
}

func result(t *testing.T, what string, r map[string]any) map[string]any {
	t.Helper()
	res, ok := r["result"].(map[string]any)
	if !ok {
		t.Fatalf("%s: no result: %v", what, r)
	}
	return res
}

// started counts the starts of this package's test server that wrote to
// the GW_START_FILE path.
func started(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "started")
}

// callText returns a tools/call's text and whether it is an error (a
// JSON-RPC error's message counts as one).
func (c *statelessClient) callText(name string, args string) (string, bool) {
	c.t.Helper()
	r := c.call("tools/call", `{"name":`+fmt.Sprintf("%q", name)+`,"arguments":`+args+`}`)
	if e, ok := r["error"].(map[string]any); ok {
		return fmt.Sprint(e["message"]), true
	}
	res := result(c.t, "tools/call "+name, r)
	var b strings.Builder
	content, _ := res["content"].([]any)
	for _, x := range content {
		if m, ok := x.(map[string]any); ok {
			b.WriteString(fmt.Sprint(m["text"]))
		}
	}
	isErr, _ := res["isError"].(bool)
	return b.String(), isErr
}

// Two HTTP gateways started from one file, on one Redis, serve stateless
// (2026-07-28) requests behind any load balancer: each request may reach
// either one. server/discover is answered by the gateway; a list begun on
// one continues on the other (the cursor is signed with a key of the
// file's); a server's limit and a gateway-wide budget hold exactly across
// both; and each gateway starts each server once for all its stateless
// requests, not once per request.
func TestGatewayStatelessFleetOnRedis(t *testing.T) {
	redisURL := mcptest.Redis(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	config := writeFile(t, dir, "gateway.yaml", `policy:
  version: "1"
  tools:
    "*__get-sum":
      rules:
        - name: shared sum budget
          rate_limit: 2/hour
servers:
  a:
    command: `+yamlList([]string{self, "-test.run=^$"})+`
    env: {`+envTestServer+`: "1", GW_START_FILE: `+strings.Trim(yamlList([]string{starts}), "[]")+`}
    policy:
      version: "1"
      tools:
        echo:
          rules:
            - name: three echoes
              rate_limit: 3/hour
`)
	prefix := "--state-prefix=gwtest" + strings.ToLower(t.Name())
	one := startHTTPGateway(t, config, "--state", redisURL, prefix)
	two := startHTTPGateway(t, config, "--state", redisURL, prefix)

	d := result(t, "server/discover", one.call("server/discover", `{}`))
	versions, _ := d["supportedVersions"].([]any)
	info, _ := d["_meta"].(map[string]any)["io.modelcontextprotocol/serverInfo"].(map[string]any)
	caps, _ := d["capabilities"].(map[string]any)
	if !slices.Contains(versions, any("2026-07-28")) || d["resultType"] != "complete" || info["name"] != "tollgate-gateway" || caps["tools"] == nil || d["cacheScope"] != "private" {
		t.Errorf("server/discover: %v", d)
	}

	// The test server lists two tools a page: page through on
	// alternating gateways.
	var names []string
	cursor := ""
	for page := 0; page < 20; page++ {
		c := []*statelessClient{one, two}[page%2]
		params := `{}`
		if cursor != "" {
			params = `{"cursor":` + fmt.Sprintf("%q", cursor) + `}`
		}
		res := result(t, "tools/list", c.call("tools/list", params))
		if res["resultType"] != "complete" || res["cacheScope"] != "private" {
			t.Errorf("tools/list page %d: resultType %v, cacheScope %v", page, res["resultType"], res["cacheScope"])
		}
		tools, _ := res["tools"].([]any)
		for _, x := range tools {
			names = append(names, fmt.Sprint(x.(map[string]any)["name"]))
		}
		cursor, _ = res["nextCursor"].(string)
		if cursor == "" {
			break
		}
	}
	slices.Sort(names)
	if want := []string{"a__ask", "a__crash", "a__echo", "a__get-sum", "a__progress", "a__spare", "a__wait"}; !slices.Equal(names, want) {
		t.Errorf("tools listed across both gateways: %v, want %v", names, want)
	}

	allowed := 0
	for i := range 8 {
		c := []*statelessClient{one, two}[i%2]
		txt, isErr := c.callText("a__echo", `{"message":"x"}`)
		switch {
		case !isErr && txt == "mine: x":
			allowed++
		case !isErr || !strings.Contains(strings.ToLower(txt), "denied"):
			t.Errorf("call %d: %q (error %v)", i, txt, isErr)
		}
	}
	if allowed != 3 {
		t.Errorf("a's limit across two stateless gateways: %d echoes, want 3", allowed)
	}
	sums := 0
	for i := range 6 {
		c := []*statelessClient{one, two}[i%2]
		txt, isErr := c.callText("a__get-sum", `{"a":1,"b":2}`)
		switch {
		case !isErr && txt == "mine: 3":
			sums++
		case !isErr || !strings.Contains(strings.ToLower(txt), "denied"):
			t.Errorf("sum %d: %q (error %v)", i, txt, isErr)
		}
	}
	if sums != 2 {
		t.Errorf("the gateway-wide budget across two stateless gateways: %d sums, want 2", sums)
	}
	if n := started(starts); n != 2 {
		t.Errorf("server a was started %d times by two gateways serving stateless requests, want once per gateway", n)
	}
}

// A server kept running for stateless requests that dies is started
// again by a later request, after its backoff; until then a request for
// it is answered with an error, and the other server keeps serving.
func TestGatewayStatelessServerRestarts(t *testing.T) {
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	srv := func(name string) string { return ownServer(t, name, "GW_START_FILE", starts+"-"+name) }
	config := writeFile(t, dir, "gateway.yaml", "restart: {min_backoff: 300ms, max_backoff: 1s}\nservers:\n"+srv("a")+srv("b"))
	c := startHTTPGateway(t, config, "--state", "memory")
	if txt, isErr := c.callText("a__echo", `{"message":"before"}`); isErr || txt != "mine: before" {
		t.Fatalf("a__echo: %q", txt)
	}
	c.callText("a__crash", `{}`) // the server exits mid-call
	if txt, isErr := c.callText("b__echo", `{"message":"still"}`); isErr || txt != "mine: still" {
		t.Errorf("b__echo while a is down: %q", txt)
	}
	mcptest.Eventually(t, 20*time.Second, func() bool {
		txt, isErr := c.callText("a__echo", `{"message":"after"}`)
		return !isErr && txt == "mine: after"
	}, "a serves stateless requests again")
	for name, want := range map[string]int{"a": 2, "b": 1} {
		if n := started(starts + "-" + name); n != want {
			t.Errorf("server %s started %d times, want %d", name, n, want)
		}
	}
}

// A stateless client hears of list changes on a subscriptions/listen
// stream the gateway keeps open: acknowledged with the filters it
// honours, then a tools/list_changed tagged with the subscription's id
// when a server goes down, and again when it is back.
func TestGatewayStatelessListen(t *testing.T) {
	config := writeFile(t, t.TempDir(), "gateway.yaml", "restart: {min_backoff: 300ms, max_backoff: 1s}\nservers:\n"+ownServer(t, "a")+ownServer(t, "b"))
	c := startHTTPGateway(t, config, "--state", "memory")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	body := `{"jsonrpc":"2.0","id":"sub-1","method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true,"taskIds":["x"]},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "subscriptions/listen")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("subscriptions/listen: %s", resp.Status)
	}
	events := make(chan map[string]any, 16)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data:")
			if !ok {
				continue
			}
			var m map[string]any
			if json.Unmarshal([]byte(strings.TrimSpace(data)), &m) == nil {
				events <- m
			}
		}
	}()
	next := func(what string) map[string]any {
		t.Helper()
		select {
		case m, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended before %s", what)
			}
			return m
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s on the stream", what)
		}
		return nil
	}
	tagged := func(m map[string]any) bool {
		p, _ := m["params"].(map[string]any)
		meta, _ := p["_meta"].(map[string]any)
		return meta["io.modelcontextprotocol/subscriptionId"] == "sub-1"
	}
	ack := next("acknowledgement")
	if p, _ := ack["params"].(map[string]any); ack["method"] != "notifications/subscriptions/acknowledged" || !tagged(ack) ||
		fmt.Sprint(p["notifications"]) != "map[toolsListChanged:true]" {
		t.Fatalf("first on the stream: %v, want the acknowledgement of toolsListChanged alone", ack)
	}
	c.callText("a__crash", `{}`)
	for _, when := range []string{"a went down", "a is back"} {
		if m := next("tools/list_changed when " + when); m["method"] != "notifications/tools/list_changed" || !tagged(m) {
			t.Errorf("when %s: %v, want a tagged tools/list_changed", when, m)
		}
	}
	if txt, isErr := c.callText("a__echo", `{"message":"back"}`); isErr || txt != "mine: back" {
		t.Errorf("a__echo after it came back: %q", txt)
	}
}

// Stateless requests arriving together share the servers kept running:
// each is answered with its own result, and each server is started once.
func TestGatewayStatelessConcurrent(t *testing.T) {
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	srv := func(name string) string { return ownServer(t, name, "GW_START_FILE", starts+"-"+name) }
	url := startHTTPGateway(t, writeFile(t, dir, "gateway.yaml", "servers:\n"+srv("a")+srv("b")), "--state", "memory").url
	const clients, each = 12, 8
	errs := make(chan error, clients*each)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &statelessClient{t: t, url: url, seq: i * 1000}
			for j := range each {
				name := []string{"a__echo", "b__echo"}[(i+j)%2]
				msg := fmt.Sprintf("c%d-%d", i, j)
				r, err := c.try("tools/call", `{"name":"`+name+`","arguments":{"message":"`+msg+`"}}`)
				if err != nil {
					errs <- err
					continue
				}
				if !strings.Contains(fmt.Sprint(r["result"]), "mine: "+msg) {
					errs <- fmt.Errorf("%s %s answered %v", name, msg, r)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, name := range []string{"a", "b"} {
		if n := started(starts + "-" + name); n != 1 {
			t.Errorf("server %s started %d times, want once", name, n)
		}
	}
}

// A stateless call waits only for the server it names: a server that
// hangs is never started for calls to another. A stateless request that
// needs every server (a list) leaves the hung one out once the start-up
// bound has passed, and the gateway stops it and starts it again after
// its backoff, instead of letting it hold up every later request.
func TestGatewayStatelessHungServer(t *testing.T) {
	dir := t.TempDir()
	starts := filepath.Join(dir, "starts")
	config := writeFile(t, dir, "gateway.yaml", "startup_timeout: 1s\nrestart: {min_backoff: 100ms, max_backoff: 200ms}\nservers:\n"+
		ownServer(t, "a", "GW_START_FILE", starts+"-a")+ownServer(t, "b", "GW_START_FILE", starts+"-b", "GW_HANG", "1"))
	c := startHTTPGateway(t, config, "--state", "memory")
	count := func(name string) int { return started(starts + "-" + name) }
	// startHTTPGateway's server/discover needed every server: start over
	// from what it left.
	before := count("b")
	for i := range 3 {
		if txt, isErr := c.callText("a__echo", fmt.Sprintf(`{"message":"m%d"}`, i)); isErr || txt != fmt.Sprintf("mine: m%d", i) {
			t.Errorf("a__echo while b hangs: %q", txt)
		}
	}
	if n := count("b"); n != before {
		t.Errorf("calls to a started b %d times", n-before)
	}
	mcptest.Eventually(t, 30*time.Second, func() bool {
		res := result(t, "tools/list", c.call("tools/list", `{}`))
		tools, _ := res["tools"].([]any)
		for _, x := range tools {
			if strings.HasPrefix(fmt.Sprint(x.(map[string]any)["name"]), "b__") {
				t.Errorf("a hung server's tools listed: %v", x)
			}
		}
		return count("b") >= before+2
	}, "the hung server is stopped and started again")
}

// The Go SDK's client at 2026-07-28 over HTTP (server/discover, stateless
// requests, subscriptions/listen) uses the gateway as it would one server:
// it lists and calls every server's tools, and hears on its subscription
// that the tools changed when a server goes down.
func TestGatewayStatelessSDKClient(t *testing.T) {
	config := writeFile(t, t.TempDir(), "gateway.yaml", "restart: {min_backoff: 200ms, max_backoff: 1s}\nservers:\n"+ownServer(t, "a")+ownServer(t, "b"))
	c := startHTTPGateway(t, config, "--state", "memory")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	changed := make(chan struct{}, 8)
	client := sdk.NewClient(&sdk.Implementation{Name: "stateless-sdk", Version: "1"}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) {
			select {
			case changed <- struct{}{}:
			default:
			}
		},
	})
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: c.url}, &sdk.ClientSessionOptions{ProtocolVersion: "2026-07-28"})
	if err != nil {
		t.Fatalf("connect at 2026-07-28: %v", err)
	}
	defer cs.Close()
	// What server/discover told it (an initialize would not say 2026-07-28).
	if r := cs.InitializeResult(); r.ProtocolVersion != "2026-07-28" || r.ServerInfo == nil || r.ServerInfo.Name != "tollgate-gateway" {
		t.Fatalf("the client did not discover the gateway: %+v", r)
	}
	if names := toolNames(t, ctx, cs); !slices.Contains(names, "a__echo") || !slices.Contains(names, "b__echo") {
		t.Errorf("tools: %v", names)
	}
	if txt, isErr := callText(t, ctx, cs, "b__echo", map[string]any{"message": "stateless"}); isErr || !strings.Contains(txt, `"mine: stateless"`) {
		t.Errorf("b__echo: %q", txt)
	}
	_, _ = cs.CallTool(ctx, &sdk.CallToolParams{Name: "a__crash", Arguments: map[string]any{}})
	select {
	case <-changed:
	case <-time.After(20 * time.Second):
		t.Fatal("the client was not told the tools changed when a went down")
	}
	mcptest.Eventually(t, 20*time.Second, func() bool {
		txt, isErr := callText(t, ctx, cs, "a__echo", map[string]any{"message": "back"})
		return !isErr && strings.Contains(txt, `"mine: back"`)
	}, "a serves the SDK client again")
}
