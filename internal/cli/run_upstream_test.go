package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// upstreamPolicy allows everything except one denied and one hidden tool of
// each real server.
const upstreamPolicy = `version: "1"
default: allow
hide:
  - test_image_content
  - get-tiny-image
tools:
  test_audio_content:
    rules:
      - name: no-audio
        action: deny
        on_deny: "audio is off"
  get-sum:
    rules:
      - name: no-sums
        action: deny
        on_deny: "sums are off"
`

func writePolicy(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(upstreamPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// bridge is a running `tollgate run --upstream` driven by raw JSON lines.
type bridge struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr *bytes.Buffer
	// answer answers server→client requests (sampling, elicitation).
	answer func(method string, params json.RawMessage) string
}

func startBridge(t *testing.T, url string, extra ...string) *bridge {
	t.Helper()
	bin := mcptest.Tollgate(t)
	args := append([]string{"run", "-c", writePolicy(t), "--state", "memory", "--upstream", url}, extra...)
	cmd := exec.Command(bin, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &bridge{t: t, cmd: cmd, stdin: stdin, lines: make(chan []byte, 64), stderr: &bytes.Buffer{}}
	cmd.Stderr = &lockedBuffer{b: b.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r := bufio.NewReaderSize(stdout, 1<<20)
		for {
			line, err := r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				b.lines <- line
			}
			if err != nil {
				close(b.lines)
				return
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("tollgate stderr:\n%s", b.stderr.String())
		}
	})
	return b
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (b *bridge) send(line string) {
	b.t.Helper()
	if _, err := io.WriteString(b.stdin, line+"\n"); err != nil {
		b.t.Fatalf("write to tollgate: %v", err)
	}
}

// call sends a request and returns its response, answering the server's
// requests that arrive meanwhile and collecting its notifications.
func (b *bridge) call(id int, method, params string) (resp []byte, notes []string) {
	b.t.Helper()
	b.send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`, id, method, params))
	deadline := time.After(60 * time.Second)
	for {
		select {
		case line, ok := <-b.lines:
			if !ok {
				b.t.Fatalf("tollgate exited waiting for %s #%d", method, id)
			}
			m, err := jsonrpc.Parse(bytes.TrimSpace(line), false)
			if err != nil {
				b.t.Fatalf("bad line %s: %v", line, err)
			}
			switch {
			case m.IsRequest():
				if b.answer == nil {
					b.t.Fatalf("unexpected server request %s", line)
				}
				b.send(string(jsonrpc.AppendResult(nil, m.ID, []byte(b.answer(m.Method, json.RawMessage(m.Params))))))
			case m.IsNotification():
				notes = append(notes, m.Method)
			case string(m.ID) == fmt.Sprint(id):
				return append([]byte(nil), m.Raw...), notes
			}
		case <-deadline:
			b.t.Fatalf("no response to %s #%d", method, id)
		}
	}
}

const initParams = `{"protocolVersion":"2025-11-25","capabilities":{"sampling":{},"elicitation":{}},"clientInfo":{"name":"bridge-test","version":"1"}}`

func (b *bridge) initialize() []byte {
	b.t.Helper()
	resp, _ := b.call(0, "initialize", initParams)
	b.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return resp
}

func toolNames(t *testing.T, resp []byte) map[string]bool {
	t.Helper()
	var r struct {
		Result struct {
			Tools []struct{ Name string } `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal(resp, &r); err != nil {
		t.Fatalf("tools/list response %s: %v", resp, err)
	}
	names := map[string]bool{}
	for _, tl := range r.Result.Tools {
		names[tl.Name] = true
	}
	return names
}

func contains(t *testing.T, what string, got []byte, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !bytes.Contains(got, []byte(p)) {
			t.Errorf("%s: %s does not contain %q", what, got, p)
		}
	}
}

func answerClientRequests(method string, _ json.RawMessage) string {
	switch method {
	case "sampling/createMessage":
		return `{"role":"assistant","content":{"type":"text","text":"sampled by the bridge test"},"model":"test-model","stopReason":"endTurn"}`
	case "elicitation/create":
		return `{"action":"accept","content":{"username":"bridge","email":"b@example.com","name":"bridge","age":30,"score":1,"status":"active","verified":true}}`
	case "roots/list":
		return `{"roots":[]}`
	}
	return `{}`
}

func TestBridgeGoEverythingServer(t *testing.T) {
	for _, stateful := range []bool{true, false} {
		t.Run(fmt.Sprintf("stateful=%v", stateful), func(t *testing.T) {
			url := mcptest.EverythingServerHTTP(t, stateful)
			b := startBridge(t, url)
			b.answer = answerClientRequests
			contains(t, "initialize", b.initialize(), `"mcp-conformance-test-server"`)

			list, _ := b.call(1, "tools/list", `{}`)
			names := toolNames(t, list)
			if !names["test_simple_text"] || names["test_image_content"] {
				t.Errorf("tools/list: test_simple_text listed %v, hidden test_image_content listed %v", names["test_simple_text"], names["test_image_content"])
			}
			ok, _ := b.call(2, "tools/call", `{"name":"test_simple_text","arguments":{}}`)
			contains(t, "allowed call", ok, `"result"`, `"text"`)
			denied, _ := b.call(3, "tools/call", `{"name":"test_audio_content","arguments":{}}`)
			contains(t, "denied call", denied, `[POLICY DENIED] audio is off`, `"isError":true`)
			hidden, _ := b.call(4, "tools/call", `{"name":"test_image_content","arguments":{}}`)
			if bytes.Contains(hidden, []byte("image/png")) {
				t.Errorf("hidden tool ran: %s", hidden)
			}
			if !stateful {
				return // a stateless server cannot ask the client anything
			}
			s, _ := b.call(5, "tools/call", `{"name":"test_sampling","arguments":{"prompt":"hi"}}`)
			contains(t, "sampling round trip", s, "sampled by the bridge test")
			e, _ := b.call(6, "tools/call", `{"name":"test_elicitation","arguments":{"message":"who?"}}`)
			contains(t, "elicitation round trip", e, `"result"`, "accept")
		})
	}
}

func TestBridgeServerEverythingInspector(t *testing.T) {
	for _, mode := range []string{"streamableHttp", "sse"} {
		t.Run(mode, func(t *testing.T) {
			url := mcptest.ServerEverythingHTTP(t, mode)
			target := []string{mcptest.Tollgate(t), "run", "-c", writePolicy(t), "--state", "memory", "--upstream", url}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			out, err := mcptest.RunInspector(t, ctx, target, "--method", "tools/list")
			if err != nil {
				t.Fatal(err)
			}
			names := toolNames(t, []byte(`{"result":`+string(out)+`}`))
			if !names["echo"] || names["get-tiny-image"] {
				t.Errorf("tools/list through the bridge: echo %v, hidden get-tiny-image %v", names["echo"], names["get-tiny-image"])
			}
			out, err = mcptest.RunInspector(t, ctx, target, "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hi")
			if err != nil {
				t.Fatal(err)
			}
			contains(t, "echo", out, "Echo: hi")
			out, err = mcptest.RunInspector(t, ctx, target, "--method", "tools/call", "--tool-name", "get-sum", "--tool-arg", "a=1", "--tool-arg", "b=2")
			if err != nil {
				t.Fatal(err)
			}
			contains(t, "denied get-sum", out, "[POLICY DENIED] sums are off")
		})
	}
}

func TestBridgeServerEverythingSampling(t *testing.T) {
	for _, mode := range []string{"streamableHttp", "sse"} {
		t.Run(mode, func(t *testing.T) {
			b := startBridge(t, mcptest.ServerEverythingHTTP(t, mode))
			b.answer = answerClientRequests
			b.initialize()
			list, _ := b.call(1, "tools/list", `{}`)
			names := toolNames(t, list)
			if !names["trigger-sampling-request"] || !names["trigger-elicitation-request"] {
				t.Fatalf("sampling/elicitation tools not offered: %v", names)
			}
			s, _ := b.call(2, "tools/call", `{"name":"trigger-sampling-request","arguments":{"prompt":"hello"}}`)
			contains(t, "sampling round trip", s, "sampled by the bridge test")
			hidden, _ := b.call(3, "tools/call", `{"name":"get-tiny-image","arguments":{}}`)
			if bytes.Contains(hidden, []byte("image/png")) {
				t.Errorf("hidden tool ran: %s", hidden)
			}
		})
	}
}

// cutter is a reverse proxy that ends the first SSE answer to a tools/call
// after its first event with data, as a dropped connection would, and
// records the Last-Event-ID of the GETs that resume it.
type cutter struct {
	upstream string
	cut      atomic.Bool
	resumed  chan string
}

func (c *cutter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req, _ := http.NewRequestWithContext(r.Context(), r.Method, c.upstream, bytes.NewReader(body))
	req.Header = r.Header.Clone()
	if id := r.Header.Get("Last-Event-ID"); r.Method == http.MethodGet && id != "" {
		select {
		case c.resumed <- id:
		default:
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	flusher := w.(http.Flusher)
	cutThis := r.Method == http.MethodPost && bytes.Contains(body, []byte(`"tools/call"`)) &&
		strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") && c.cut.CompareAndSwap(false, true)
	rd := bufio.NewReader(resp.Body)
	sawData := false
	for {
		line, err := rd.ReadBytes('\n')
		w.Write(line)
		flusher.Flush()
		if bytes.HasPrefix(line, []byte("data: {")) {
			sawData = true
		}
		if cutThis && sawData && len(bytes.TrimSpace(line)) == 0 {
			return // drop the stream mid-call
		}
		if err != nil {
			return
		}
	}
}

func TestBridgeResumesDroppedStream(t *testing.T) {
	up := mcptest.ServerEverythingHTTP(t, "streamableHttp")
	c := &cutter{upstream: up, resumed: make(chan string, 4)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: c}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	b := startBridge(t, "http://"+ln.Addr().String()+"/mcp")
	b.answer = answerClientRequests
	b.initialize()
	resp, notes := b.call(1, "tools/call", `{"name":"trigger-long-running-operation","arguments":{"duration":1,"steps":4},"_meta":{"progressToken":"p1"}}`)
	contains(t, "long-running call", resp, `"result"`, "Long running operation completed")
	if !c.cut.Load() {
		t.Fatal("the proxy never cut a stream")
	}
	select {
	case id := <-c.resumed:
		if id == "" {
			t.Error("resumed without Last-Event-ID")
		}
	default:
		t.Error("no GET with Last-Event-ID resumed the stream")
	}
	progress := 0
	for _, n := range notes {
		if n == "notifications/progress" {
			progress++
		}
	}
	if progress == 0 {
		t.Errorf("no progress notifications relayed: %v", notes)
	}
}

func TestBridgeUnreachableUpstream(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	const secret = "hunter2-very-secret"
	t.Setenv("TOLLGATE_TEST_TOKEN", secret)
	b := startBridge(t, "http://"+addr+"/mcp", "--header", "Authorization: Bearer ${TOLLGATE_TEST_TOKEN}", "--log-level", "debug")
	resp, _ := b.call(0, "initialize", initParams)
	contains(t, "initialize", resp, `"error"`, "upstream http://"+addr+"/mcp: connection refused")
	resp, _ = b.call(1, "tools/list", `{}`)
	contains(t, "tools/list", resp, `"id":1`, "connection refused")
	b.stdin.Close()
	b.cmd.Wait()
	if strings.Contains(b.stderr.String(), secret) {
		t.Errorf("stderr leaks the header value:\n%s", b.stderr.String())
	}
}

func TestRunUpstreamUsage(t *testing.T) {
	p := writePolicy(t)
	t.Setenv("TOLLGATE_SET", "v")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"with a command", []string{"--upstream", "http://127.0.0.1:1/mcp", "--", "cat"}, "not both"},
		{"bad header", []string{"--upstream", "http://127.0.0.1:1/mcp", "--header", "no colon"}, "Name: value"},
		{"reserved header", []string{"--upstream", "http://127.0.0.1:1/mcp", "--header", "Mcp-Session-Id: x"}, "sets this header itself"},
		{"reserved param header", []string{"--upstream", "http://127.0.0.1:1/mcp", "--header", "Mcp-Param-Region: x"}, "sets this header itself"},
		{"unset variable", []string{"--upstream", "http://127.0.0.1:1/mcp", "--header", "X-Key: ${TOLLGATE_UNSET_VAR}"}, "TOLLGATE_UNSET_VAR is not set"},
		{"not http", []string{"--upstream", "ftp://host/x"}, "not an http or https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"run", "-c", p, "--state", "memory"}, tc.args...)
			code := Main(context.Background(), args, strings.NewReader(""), io.Discard, &stderr)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"A": "1", "TOKEN": "s$cret"}
	get := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"Bearer ${TOKEN}": "Bearer s$cret",
		"${A}${A}-x":      "11-x",
		"cost $5":         "cost $5",
		"plain":           "plain",
	} {
		got, err := expandEnv(in, get)
		if err != nil || got != want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := expandEnv("${NOPE}", get); err == nil {
		t.Error("unset variable expanded")
	}
	if _, err := expandEnv("${A", get); err == nil {
		t.Error("unterminated ${ accepted")
	}
}
