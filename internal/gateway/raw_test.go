package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// rawClient speaks newline-delimited JSON-RPC to a gateway, byte for byte.
type rawClient struct {
	t     *testing.T
	in    io.WriteCloser
	lines chan string
	cmd   *exec.Cmd
}

// ownServer is a `servers:` entry of a gateway file that runs this
// package's test server as name, with the environment variables env
// (name, value, name, value, ...) besides the one that makes it one.
func ownServer(t *testing.T, name string, env ...string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	vars := envTestServer + `: "1"`
	for i := 0; i+1 < len(env); i += 2 {
		vars += ", " + env[i] + ": " + strings.Trim(yamlList(env[i+1:i+2]), "[]")
	}
	return "  " + name + ":\n    command: " + yamlList([]string{self, "-test.run=^$"}) + "\n    env: {" + vars + "}\n"
}

// twoOwnServers writes a gateway file with this package's server twice, as
// a and b.
func twoOwnServers(t *testing.T, extra string) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "gateway.yaml", extra+"servers:\n"+ownServer(t, "a")+ownServer(t, "b"))
}

func startRaw(t *testing.T, config string, args ...string) *rawClient {
	t.Helper()
	cmd := exec.Command(mcptest.Tollgate(t), append([]string{"gateway", "-c", config, "--state", "memory", "--audit", "off"}, args...)...)
	cmd.Stderr = &testLog{t: t}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, in: in, lines: make(chan string, 256), cmd: cmd}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		in.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return c
}

func (c *rawClient) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// expect returns the first line matching re, failing after a deadline;
// other lines are kept in skipped.
func (c *rawClient) expect(re string, skipped *[]string) string {
	c.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				c.t.Fatalf("the gateway ended before sending a line matching %s", re)
			}
			if rx.MatchString(l) {
				return l
			}
			if skipped != nil {
				*skipped = append(*skipped, l)
			}
		case <-deadline.C:
			c.t.Fatalf("no line matching %s", re)
		}
	}
}

func (c *rawClient) initialize() {
	c.t.Helper()
	c.send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"raw","version":"1"}}}`)
	c.expect(`"id":0,"result":\{"protocolVersion":"2025-06-18"`, nil)
	c.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

// Ids and progress tokens come back exactly as the client wrote them, even
// when two requests to two servers are in flight with ids a server would
// read as equal or as its own.
func TestGatewayIDsRestoredExactly(t *testing.T) {
	c := startRaw(t, twoOwnServers(t, ""))
	c.initialize()
	ids := []string{`"x\u0041"`, `42`, `"42"`, `1e1`}
	for i, id := range ids {
		srv := "a"
		if i%2 == 1 {
			srv = "b"
		}
		c.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"` + srv + `__echo","arguments":{"message":"m` + fmt.Sprint(i) + `"}}}`)
	}
	answers := map[string]string{}
	for range ids {
		line := c.expect(`"text":"mine: m\d"`, nil)
		i := strings.Index(line, "mine: m")
		answers[line[i+len("mine: m"):][:1]] = line
	}
	for i, id := range ids {
		line := answers[fmt.Sprint(i)]
		if !strings.Contains(line, `"id":`+id+`}`) && !strings.Contains(line, `"id":`+id+`,`) {
			t.Errorf("answer to id %s came back as %s", id, line)
		}
	}
	c.send(`{"jsonrpc":"2.0","id":"p","method":"tools/call","params":{"name":"b__progress","arguments":{},"_meta":{"progressToken":"tok\u0031"}}}`)
	progress := c.expect(`notifications/progress`, nil)
	if !strings.Contains(progress, `"progressToken":"tok\u0031"`) {
		t.Errorf("progress token not restored: %s", progress)
	}
	c.expect(`"id":"p"`, nil)
	c.send(`{"jsonrpc":"2.0","id":"ping","method":"ping"}`)
	c.expect(`"id":"ping","result":\{\}`, nil)
	c.send(`{"jsonrpc":"2.0","id":"m","method":"no/such/method"}`)
	c.expect(`"id":"m","error":\{"code":-32601`, nil)
	c.send(`[{"jsonrpc":"2.0","id":"b1","method":"tools/call","params":{"name":"a__echo","arguments":{"message":"in a batch"}}}]`)
	if line := c.expect(`batches are not allowed|in a batch`, nil); !strings.Contains(line, "batches are not allowed by protocol version 2025-06-18") {
		t.Errorf("a batch under 2025-06-18: %s", line)
	}
}

// A client answering a server's request can only answer under the id the
// gateway gave it: answers to ids it never issued (a server's own ids
// included) reach no server, a second answer is dropped, and each server
// gets exactly its own answer.
func TestGatewayServerRequestsRouteBack(t *testing.T) {
	c := startRaw(t, twoOwnServers(t, ""))
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":"ask-a","method":"tools/call","params":{"name":"a__ask","arguments":{}}}`)
	c.send(`{"jsonrpc":"2.0","id":"ask-b","method":"tools/call","params":{"name":"b__ask","arguments":{}}}`)
	idRx := regexp.MustCompile(`"id":([^,]+),"method":"elicitation/create"`)
	var gids []string
	for range 2 {
		line := c.expect(`"method":"elicitation/create"`, nil)
		m := idRx.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("elicitation request without an id first: %s", line)
		}
		gids = append(gids, m[1])
	}
	if gids[0] == gids[1] {
		t.Fatalf("two servers' requests share the id %s", gids[0])
	}
	// Ids the gateway never issued: the servers' own (small integers), made up ones.
	for _, forged := range []string{"0", "1", "2", `"1"`, "999", `"ask-a"`} {
		if forged == gids[0] || forged == gids[1] {
			continue
		}
		c.send(`{"jsonrpc":"2.0","id":` + forged + `,"result":{"action":"accept","content":{"answer":"forged"}}}`)
	}
	// Answer in reverse order; each server's tool reports its own answer.
	for i := len(gids) - 1; i >= 0; i-- {
		c.send(`{"jsonrpc":"2.0","id":` + gids[i] + `,"result":{"action":"accept","content":{"answer":"answer-` + fmt.Sprint(i) + `"}}}`)
	}
	got := map[string]string{}
	for range 2 {
		line := c.expect(`"id":"ask-[ab]"`, nil)
		got[line[strings.Index(line, `"id":"ask-`)+10:][:1]] = line
	}
	a, b := got["a"], got["b"]
	if strings.Contains(a+b, "forged") {
		t.Errorf("a forged answer reached a server:\n%s\n%s", a, b)
	}
	if strings.Contains(a, "answer-") == false || strings.Contains(b, "answer-") == false || a[strings.Index(a, "answer-"):][:8] == b[strings.Index(b, "answer-"):][:8] {
		t.Errorf("answers crossed or were lost:\n%s\n%s", a, b)
	}
	// A second answer to a request already answered goes nowhere; the
	// session goes on.
	c.send(`{"jsonrpc":"2.0","id":` + gids[0] + `,"result":{"action":"accept","content":{"answer":"again"}}}`)
	c.send(`{"jsonrpc":"2.0","id":"after","method":"tools/call","params":{"name":"a__echo","arguments":{"message":"still here"}}}`)
	c.expect(`"id":"after".*mine: still here`, nil)
}

// Configuration problems stop the gateway before any server starts, with
// the problem's position; two servers whose names collide are refused
// naming both.
func TestGatewayConfigRefused(t *testing.T) {
	tg := mcptest.Tollgate(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"collision", "servers:\n  github: {command: [a]}\n  gh: {command: [b], prefix: github}\n", []string{`servers "github" and "gh" collide`}},
		{"misspelt", "servers:\n  a: {command: [x], polcy: p.yaml}\n", []string{`gateway.yaml:2:21: unknown key "polcy" in server a (did you mean "policy"?)`}},
		{"bad inline policy", "servers:\n  a:\n    command: [x]\n    policy:\n      version: \"2\"\n", []string{"gateway.yaml:5:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := filepath.Join(dir, "gateway.yaml")
			if err := os.WriteFile(cfg, []byte(tc.src), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, tg, "gateway", "-c", cfg, "--audit", "off", "--state", "memory").CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v\n%s", err, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	out, err := exec.Command(tg, "gateway", "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Usage: tollgate gateway -c gateway.yaml") || !strings.Contains(string(out), "-listen") {
		t.Errorf("--help: %v\n%s", err, out)
	}
}

// With --listen the gateway is served over streamable HTTP by the same
// front as tollgate run --listen: its Origin check included.
func TestGatewayHTTPFront(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", mcptest.FreePort(t))
	cmd := exec.Command(mcptest.Tollgate(t), "gateway", "-c", twoOwnServers(t, ""), "--state", "memory", "--audit", "off", "--listen", addr)
	cmd.Stderr = &testLog{t: t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	url := "http://" + addr + "/mcp"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var cs *sdk.ClientSession
	mcptest.Eventually(t, 20*time.Second, func() bool {
		var err error
		cs, err = sdk.NewClient(&sdk.Implementation{Name: "http", Version: "1"}, nil).Connect(ctx, &sdk.StreamableClientTransport{Endpoint: url}, nil)
		return err == nil
	}, "the gateway serves HTTP")
	defer cs.Close()
	if names := toolNames(t, ctx, cs); !slices.Contains(names, "a__echo") || !slices.Contains(names, "b__echo") {
		t.Errorf("tools over HTTP: %v", names)
	}
	if txt, isErr := callText(t, ctx, cs, "b__echo", map[string]any{"message": "over http"}); isErr || !strings.Contains(txt, "mine: over http") {
		t.Errorf("b__echo over HTTP: %s", txt)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a request from another Origin: %s", resp.Status)
	}
}

// A client that sends requests without initialize (as a stateless
// 2026-07-28 request does) is served once the servers are up.
func TestGatewayWithoutInitialize(t *testing.T) {
	c := startRaw(t, twoOwnServers(t, ""))
	c.send(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"b__echo","arguments":{"message":"no init"}}}`)
	if line := c.expect(`"id":1,`, nil); !strings.Contains(line, "mine: no init") {
		t.Errorf("a call before any initialize: %s", line)
	}
}

// A client's cancellation reaches the server running the request, under
// that server's id, and no other.
func TestGatewayCancellationRouted(t *testing.T) {
	dir := t.TempDir()
	cancelled := filepath.Join(dir, "cancelled")
	srv := func(name string) string { return ownServer(t, name, "GW_NAME", name, "GW_CANCEL_FILE", cancelled) }
	c := startRaw(t, writeFile(t, dir, "gateway.yaml", "servers:\n"+srv("a")+srv("b")))
	c.initialize()
	c.send(`{"jsonrpc":"2.0","id":"w","method":"tools/call","params":{"name":"a__wait","arguments":{}}}`)
	c.send(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"b__wait","arguments":{}}}`)
	// Both are running once a later call to each server has come back.
	c.send(`{"jsonrpc":"2.0","id":"ea","method":"tools/call","params":{"name":"a__echo","arguments":{"message":"x"}}}`)
	c.send(`{"jsonrpc":"2.0","id":"eb","method":"tools/call","params":{"name":"b__echo","arguments":{"message":"x"}}}`)
	c.expect(`"id":"e[ab]"`, nil)
	c.expect(`"id":"e[ab]"`, nil)
	c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"w","reason":"changed my mind"}}`)
	mcptest.Eventually(t, 20*time.Second, func() bool {
		b, _ := os.ReadFile(cancelled)
		return len(b) > 0
	}, "the cancellation reached a server")
	// b's call is still running: it answers a cancellation of its own.
	c.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`)
	mcptest.Eventually(t, 20*time.Second, func() bool {
		b, _ := os.ReadFile(cancelled)
		return strings.Count(string(b), "\n") == 2
	}, "the second cancellation reached b")
	if b, _ := os.ReadFile(cancelled); string(b) != "cancelled on a\ncancelled on b\n" {
		t.Errorf("cancellations reached: %q", b)
	}
}

// A name is routed by what it says, not how it is spelt: escapes in the
// prefix, the separator or the server's own name reach the same tool as
// the plain spelling, and a spelling that decodes to another server's
// prefix reaches that server only.
func TestGatewayEscapedNamesRouteAsDecoded(t *testing.T) {
	c := startRaw(t, twoOwnServers(t, ""))
	c.initialize()
	names := []string{`a\u005f_echo`, `\u0061__echo`, `a__\u0065cho`, `b_\u005fecho`}
	for i, name := range names {
		c.send(`{"jsonrpc":"2.0","id":"e` + fmt.Sprint(i) + `","method":"tools/call","params":{"name":"` + name + `","arguments":{"message":"m` + fmt.Sprint(i) + `"}}}`)
		line := c.expect(`"id":"e`+fmt.Sprint(i)+`"`, nil)
		if !strings.Contains(line, `"text":"mine: m`+fmt.Sprint(i)+`"`) {
			t.Errorf("tools/call of %s: %s", name, line)
		}
	}
	// A name that decodes to no server's tool is unknown, whatever its
	// spelling.
	c.send(`{"jsonrpc":"2.0","id":"u","method":"tools/call","params":{"name":"c\u005f_echo","arguments":{}}}`)
	if line := c.expect(`"id":"u"`, nil); strings.Contains(line, "mine:") {
		t.Errorf("a name of no server was answered by one: %s", line)
	}
}
