package console_test

import (
	"bufio"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

var shotsDir = flag.String("shots", "", "write the console's screenshots here (docs/console to update the docs)")

const (
	approver   = "tester"
	passphrase = "the tester's own passphrase"
)

const browserPolicy = `version: "1"
# The console edits this file; this comment stays.
approvals:
  approvers:
    tester: %s
tools:
  test_simple_text:
    rules:
      - name: needs a person
        action: require_approval
        reason: every call needs a person
  test_error_handling:
    rules:
      - name: a few
        rate_limit: 10/minute
`

// TestBrowser drives the console in headless Chromium against a real
// proxy (tollgate run over the Go SDK's everything-server) sharing its
// state: the token check, approving a held call with a passphrase, a rule
// changed to Deny and applied by the proxy's reload, and live decisions.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		mcptest.MissingPeer(t, "chromium not installed at /usr/bin/chromium (scripts/test.sh installs it)")
	}
	node := mcptest.Node(t)
	pw := mcptest.NodeModule(t, "playwright-core")
	bin := mcptest.Tollgate(t)
	server := mcptest.Peer(t, "everything-server")

	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	key, err := approval.DeriveKey(approver, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, fmt.Appendf(nil, browserPolicy, approval.FormatPublicKey(key.Public().(ed25519.PublicKey))), 0o600); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "scan.json")
	if out, err := exec.Command(bin, "scan", "--format", "json", "-o", report, "--", server).CombinedOutput(); err != nil {
		t.Fatalf("tollgate scan: %v\n%s", err, out)
	}

	p := startProxy(t, bin, "run", "-c", pol, "--state-dir", stateDir, "--log-level", "warn", "--", server)
	held := p.call("test_simple_text", `{"amount":1}`)
	if held.Decision.Action != "approval_required" || held.Decision.ApprovalID == "" {
		t.Fatalf("first call: %+v, want it held for approval", held)
	}
	p.call("test_error_handling", `{}`)
	p.call("test_error_handling", `{}`)

	// The console, on the same state.
	con := exec.Command(bin, "console", "-c", pol, "--state-dir", stateDir, "--scan", report)
	conOut, err := con.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var conErr strings.Builder
	con.Stderr = &conErr
	if err := con.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		con.Process.Signal(os.Interrupt)
		con.Wait()
		if t.Failed() {
			t.Logf("console stderr:\n%s", conErr.String())
		}
	})
	first, err := bufio.NewReader(conOut).ReadString('\n')
	if err != nil {
		t.Fatalf("console printed no link: %v\n%s", err, conErr.String())
	}
	link := strings.TrimSpace(strings.TrimPrefix(first, "Tollgate console: "))
	base, _, ok := strings.Cut(link, "/?token=")
	if !ok || !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Fatalf("console link %q", first)
	}

	shots := *shotsDir
	if shots == "" {
		shots = t.TempDir()
	}
	script, _ := filepath.Abs("testdata/browser.js")
	cmd := exec.Command(node, script)
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_CORE="+pw, "CONSOLE_BASE="+base, "CONSOLE_LINK="+link,
		"SHOTS_DIR="+shots, "USER_DATA_DIR="+t.TempDir(), "APPROVER="+approver, "PASSPHRASE="+passphrase,
		"APPROVAL_ID="+held.Decision.ApprovalID)
	toNode, _ := cmd.StdinPipe()
	fromNode, _ := cmd.StdoutPipe()
	var nodeErr strings.Builder
	cmd.Stderr = &nodeErr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	wait := sync.OnceValue(cmd.Wait)
	defer func() {
		toNode.Close()
		if err := wait(); err != nil {
			t.Errorf("browser script: %v\n%s", err, nodeErr.String())
		}
	}()
	steps := bufio.NewScanner(fromNode)
	next := func(want string) string {
		t.Helper()
		for steps.Scan() {
			if rest, ok := strings.CutPrefix(steps.Text(), "STEP "); ok {
				if !strings.HasPrefix(rest, want) {
					t.Fatalf("browser step %q, want %q", rest, want)
				}
				return rest
			}
			t.Logf("browser: %s", steps.Text())
		}
		toNode.Close()
		wait()
		t.Fatalf("browser script ended before step %q:\n%s", want, nodeErr.String())
		return ""
	}
	cont := func() { io.WriteString(toNode, "next\n") }

	// (b) Approved in the page: the retry runs, once.
	next("approved")
	if r := p.call("test_simple_text", `{"amount":1}`); r.Decision.Action != "" || r.IsError {
		t.Fatalf("retry after the approval: %+v, want it forwarded", r)
	}
	if r := p.call("test_simple_text", `{"amount":1}`); r.Decision.Action != "approval_required" {
		t.Fatalf("second retry: %+v, want a new request (an approval runs once)", r)
	}
	cont()

	// (c) Deny set in the page: the proxy reloads and denies by that rule.
	next("denied")
	data, _ := os.ReadFile(pol)
	if !strings.Contains(string(data), "# The console edits this file; this comment stays.") {
		t.Errorf("the edit lost the policy's comment:\n%s", data)
	}
	mcptest.Eventually(t, 20*time.Second, func() bool {
		r := p.call("test_simple_text", `{"amount":2}`)
		return r.Decision.Action == "deny" && r.Decision.Rule == "test_simple_text denied"
	}, "the proxy denies test_simple_text by the console's rule")
	cont()

	// (d) A call made while the page watches appears live.
	next("watching")
	p.call("test_error_handling", `{}`)
	cont()
	next("done")
}

// proxy is a running `tollgate run` driven with raw JSON-RPC lines.
type proxy struct {
	t    *testing.T
	in   io.WriteCloser
	mu   sync.Mutex
	wait map[string]chan []byte
	next int
}

type result struct {
	IsError  bool `json:"isError"`
	Decision struct {
		Action     string `json:"action"`
		Rule       string `json:"rule"`
		ApprovalID string `json:"approval_id"`
	}
}

func startProxy(t *testing.T, bin string, args ...string) *proxy {
	t.Helper()
	cmd := exec.Command(bin, args...)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, in: in, wait: map[string]chan []byte{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m struct {
				ID json.RawMessage `json:"id"`
			}
			if json.Unmarshal(sc.Bytes(), &m) != nil || m.ID == nil {
				continue
			}
			line := append([]byte(nil), sc.Bytes()...)
			p.mu.Lock()
			if ch, ok := p.wait[string(m.ID)]; ok {
				ch <- line
			}
			p.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		in.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		cmd.Wait()
		if t.Failed() {
			t.Logf("tollgate run stderr:\n%s", stderr.String())
		}
	})
	p.request("initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"console-test","version":"1"}}`)
	io.WriteString(in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	return p
}

func (p *proxy) request(method, params string) []byte {
	p.t.Helper()
	p.mu.Lock()
	p.next++
	id := strconv.Itoa(p.next)
	ch := make(chan []byte, 1)
	p.wait[id] = ch
	p.mu.Unlock()
	if _, err := io.WriteString(p.in, `{"jsonrpc":"2.0","id":`+id+`,"method":"`+method+`","params":`+params+"}\n"); err != nil {
		p.t.Fatalf("write to tollgate: %v", err)
	}
	select {
	case b := <-ch:
		return b
	case <-time.After(30 * time.Second):
		p.t.Fatalf("no answer to %s within 30s", method)
	}
	return nil
}

// call makes a tools/call and reads Tollgate's decision from the result
// (empty when the call was forwarded).
func (p *proxy) call(tool, args string) result {
	p.t.Helper()
	line := p.request("tools/call", `{"name":"`+tool+`","arguments":`+args+`}`)
	var m struct {
		Result struct {
			IsError bool                       `json:"isError"`
			Meta    map[string]json.RawMessage `json:"_meta"`
		} `json:"result"`
	}
	if err := json.Unmarshal(line, &m); err != nil {
		p.t.Fatalf("answer %s: %v", line, err)
	}
	r := result{IsError: m.Result.IsError}
	if d, ok := m.Result.Meta["dev.tollgate/decision"]; ok {
		json.Unmarshal(d, &r.Decision)
	}
	return r
}
