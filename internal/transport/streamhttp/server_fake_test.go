package streamhttp

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/policy"

	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// testPolicy hides "secret" and denies "danger"; everything else passes.
const testPolicy = `version: "1"
default: allow
hide: [secret]
tools:
  danger:
    rules:
      - name: no danger
        action: deny
        on_deny: "danger is not allowed"
`

// upstreamFake is an in-process stdio MCP server. It echoes request ids
// byte for byte, answers tools/call "echo" with its raw arguments, and
// records every line it receives.
type upstreamFake struct {
	conn *stdio.Conn // the upstream side, for the pump

	mu      sync.Mutex
	got     []string
	release chan struct{} // closed to let "slow" calls answer
	closed  chan struct{}
}

func newFakeServer() *upstreamFake {
	toServerR, toServerW := io.Pipe()
	fromServerR, fromServerW := io.Pipe()
	f := &upstreamFake{conn: stdio.NewConn(fromServerR, toServerW, 0), release: make(chan struct{}), closed: make(chan struct{})}
	go f.serve(toServerR, fromServerW)
	return f
}

func (f *upstreamFake) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

// saw reports whether the server received a line containing s.
func (f *upstreamFake) saw(s string) bool {
	for _, l := range f.received() {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func (f *upstreamFake) serve(in io.ReadCloser, out io.WriteCloser) {
	defer close(f.closed)
	defer out.Close()
	var wmu sync.Mutex
	write := func(s string) {
		wmu.Lock()
		defer wmu.Unlock()
		_, _ = io.WriteString(out, s+"\n")
	}
	replies := map[string]chan []byte{}
	var rmu sync.Mutex
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := append([]byte(nil), sc.Bytes()...)
		f.mu.Lock()
		f.got = append(f.got, string(line))
		f.mu.Unlock()
		lines := [][]byte{line}
		if jsonrpc.IsBatch(line) {
			lines, _ = jsonrpc.SplitBatch(line, false)
		}
		for _, line := range lines {
			f.handle(line, write, replies, &rmu)
		}
	}
}

func (f *upstreamFake) handle(line []byte, write func(string), replies map[string]chan []byte, rmu *sync.Mutex) {
	m, err := jsonrpc.Parse(line, false)
	if err != nil {
		return
	}
	if m.IsResponse() {
		rmu.Lock()
		ch := replies[string(m.ID)]
		rmu.Unlock()
		if ch != nil {
			ch <- line
		}
		return
	}
	if !m.IsRequest() {
		return
	}
	id := string(m.ID)
	result := func(r string) { write(`{"jsonrpc":"2.0","id":` + id + `,"result":` + r + `}`) }
	switch m.Method {
	case mcp.MethodInitialize:
		v := mcp.ResultString(m.Params, "protocolVersion")
		result(`{"protocolVersion":"` + v + `","capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"1"}}`)
	case mcp.MethodDiscover:
		result(`{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}},"serverInfo":{"name":"fake","version":"1"}}`)
	case mcp.MethodToolsList:
		result(`{"tools":[{"name":"echo","inputSchema":{"type":"object"}},{"name":"secret","inputSchema":{"type":"object"}},{"name":"danger","inputSchema":{"type":"object"}},` +
			`{"name":"sql","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"},"limit":{"type":"integer","x-mcp-header":"Limit"}}}}]}`)
	case mcp.MethodTasksGet:
		// Every task the fake created is known to it, whoever asks.
		task, _ := jsonrpc.Unquote(mcp.ParamsValue(m.Params, "taskId"))
		if !strings.HasPrefix(task, "task-") {
			write(`{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-32602,"message":"Failed to retrieve task: Task not found"}}`)
			return
		}
		result(`{"resultType":"complete","taskId":"` + task + `","status":"completed","result":{"content":[{"type":"text","text":"the secret result"}]}}`)
	case mcp.MethodToolsCall:
		name, _ := jsonrpc.Unquote(mcp.ParamsValue(m.Params, "name"))
		args := mcp.ParamsValue(m.Params, "arguments")
		if args == nil {
			args = []byte("{}")
		}
		text := func(s string) string {
			b, _ := json.Marshal(s)
			return `{"content":[{"type":"text","text":` + string(b) + `}]}`
		}
		switch name {
		case "echo", "sql":
			result(text(string(args)))
		case "long":
			// The tasks extension's CreateTaskResult.
			result(`{"resultType":"task","taskId":"task-` + strings.Trim(id, `"`) + `","status":"working","ttlMs":60000}`)
		case "progress":
			tok := mcp.MetaValue(m.Params, "progressToken")
			write(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":` + string(tok) + `,"progress":1,"total":2}}`)
			result(text("done"))
		case "slow":
			go func() {
				select {
				case <-f.release:
					result(text("slow done"))
				case <-f.closed:
				}
			}()
		case "ask":
			ch := make(chan []byte, 1)
			sid := `"srv-` + id + `"`
			rmu.Lock()
			replies[sid] = ch
			rmu.Unlock()
			write(`{"jsonrpc":"2.0","id":` + sid + `,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1}}`)
			go func() {
				select {
				case r := <-ch:
					rm, _ := jsonrpc.Parse(r, false)
					result(text("client said " + string(rm.Result)))
				case <-f.closed:
				}
			}()
		default:
			write(`{"jsonrpc":"2.0","id":` + id + `,"error":{"code":-32602,"message":"Unknown tool: ` + name + `"}}`)
		}
	default:
		result(`{}`)
	}
}

// upstreamFakes collects the fake servers a front started, one per session.
type upstreamFakes struct {
	mu  sync.Mutex
	all []*upstreamFake
}

func (fs *upstreamFakes) upstream(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
	f := newFakeServer()
	fs.mu.Lock()
	fs.all = append(fs.all, f)
	fs.mu.Unlock()
	return f.conn, nil, nil
}

func (fs *upstreamFakes) count() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.all)
}

func (fs *upstreamFakes) last() *upstreamFake {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.all[len(fs.all)-1]
}

// frontOpts adjusts the ServerOptions of a test front.
type frontOpt func(*ServerOptions)

// newFront serves a streamable HTTP front over fake servers under
// testPolicy. The front and the HTTP server are closed at test end.
func newFront(t testing.TB, opts ...frontOpt) (*httptest.Server, *upstreamFakes, *Server) {
	t.Helper()
	fk := &upstreamFakes{}
	o := ServerOptions{Upstream: transport.DialFunc(fk.upstream), Handler: proxy.NewHandler(newFrontPolicy(t), nil)}
	for _, fn := range opts {
		fn(&o)
	}
	front := NewServer(o)
	hs := httptest.NewServer(front)
	t.Cleanup(func() {
		front.Close() // ends open streams, which hs.Close would wait for
		hs.Close()
	})
	return hs, fk, front
}

// newFrontPolicy returns a gate enforcing testPolicy.
func newFrontPolicy(t testing.TB) *gate.Gate {
	t.Helper()
	pol, err := policy.Load("test.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	return gate.New(pol)
}

func newHTTPTest(t testing.TB, h http.Handler) *httptest.Server {
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs
}

// frontClient is a minimal streamable HTTP client for tests.
type frontClient struct {
	t       testing.TB
	url     string
	sid     string
	version string
	header  http.Header
	json    bool // ask for JSON answers (Accept: application/json only)
}

func newFrontClient(t testing.TB, url string) *frontClient {
	return &frontClient{t: t, url: url, header: http.Header{}}
}

func (c *frontClient) request(ctx context.Context, method, body string, hdr ...string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, c.url, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		if c.json {
			req.Header.Set("Accept", "application/json")
		} else {
			req.Header.Set("Accept", "application/json, text/event-stream")
		}
	} else {
		req.Header.Set("Accept", "text/event-stream")
	}
	if c.sid != "" {
		req.Header.Set(HeaderSessionID, c.sid)
	}
	if c.version != "" {
		req.Header.Set(HeaderProtocolVersion, c.version)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, c.url, err)
	}
	return resp
}

func (c *frontClient) post(body string, hdr ...string) *http.Response {
	c.t.Helper()
	return c.request(c.t.Context(), http.MethodPost, body, hdr...)
}

// answer reads the final JSON-RPC answer of a response: the JSON body, or
// the last message event of an SSE stream. It returns every SSE event too.
func readAnswer(t testing.TB, resp *http.Response) (final []byte, events []sse.Event) {
	t.Helper()
	defer resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b, nil
	}
	r := sse.NewReader(resp.Body, 1<<20)
	for {
		ev, err := r.Next()
		if err != nil {
			break
		}
		ev.Data = append([]byte(nil), ev.Data...) // valid only until Next
		events = append(events, ev)
		if len(ev.Data) > 0 {
			final = ev.Data
		}
	}
	return final, events
}

// call POSTs a message and returns the status and final answer.
func (c *frontClient) call(body string, hdr ...string) (int, []byte) {
	c.t.Helper()
	resp := c.post(body, hdr...)
	a, _ := readAnswer(c.t, resp)
	return resp.StatusCode, a
}

// initialize opens a session with the given protocol revision.
func (c *frontClient) initialize(version string) {
	c.t.Helper()
	resp := c.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + version + `","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"1"}}}`)
	a, _ := readAnswer(c.t, resp)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(a, []byte(`"result"`)) {
		c.t.Fatalf("initialize: HTTP %d %s", resp.StatusCode, a)
	}
	c.sid = resp.Header.Get(HeaderSessionID)
	if c.sid == "" {
		c.t.Fatal("initialize: no Mcp-Session-Id")
	}
	c.version = version
	resp = c.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		c.t.Fatalf("notifications/initialized: HTTP %d, want 202", resp.StatusCode)
	}
}

// rpcErrorCode returns the code of a JSON-RPC error answer, 0 when none.
func rpcErrorCode(t testing.TB, a []byte) int {
	t.Helper()
	var m struct {
		Error *struct{ Code int } `json:"error"`
	}
	if err := json.Unmarshal(a, &m); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, a)
	}
	if m.Error == nil {
		return 0
	}
	return m.Error.Code
}

func frontCall(id, tool, args string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, id, tool, args)
}
