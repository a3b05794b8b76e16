package cli_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// The policy of these tests: test_simple_text (which accepts any arguments)
// needs approval above 50000; test_error_handling (which always fails)
// always needs approval.
const aprPolicy = `version: "1"
approvals:
  approvers:
    tester: %s
%s
%s
tools:
  test_simple_text:
    rules:
      - name: big
        action: require_approval
        conditions:
          - path: args.amount
            op: gt
            value: 50000
        reason: amounts over 50000 need a person
  test_error_handling:
    rules:
      - name: always
        action: require_approval
`

const aprSimpleText = "This is a simple text response for testing."

// aprPassphrase is the approver tester's passphrase: what the person
// knows and the agent does not.
const aprPassphrase = "tester's long passphrase"

// aprKey is tester's public key, derived once (it takes a good fraction of
// a second on purpose).
var aprKey = sync.OnceValue(func() string {
	k, err := approval.DeriveKey("tester", aprPassphrase)
	if err != nil {
		panic(err)
	}
	return approval.FormatPublicKey(k.Public().(ed25519.PublicKey))
})

// aprWritePolicy writes the test policy, with tester as its approver,
// approvals lines (indented under approvals:) and top-level lines.
func aprWritePolicy(t *testing.T, approvals, top string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(aprPolicy, aprKey(), approvals, top)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// aprPassFile writes a passphrase file (the person's automation).
func aprPassFile(t *testing.T, pass string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(p, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// aprProxy is a running `tollgate run` with the Go SDK everything-server
// as its upstream, driven with raw JSON-RPC lines.
type aprProxy struct {
	t    *testing.T
	in   io.WriteCloser
	mu   sync.Mutex
	wait map[string]chan []byte
	next int
	done chan struct{}
}

func aprStart(t *testing.T, policyPath string, storeFlags ...string) *aprProxy {
	t.Helper()
	bin := mcptest.Tollgate(t)
	server := mcptest.Peer(t, "everything-server")
	args := append([]string{"run", "-c", policyPath, "--log-level", "warn"}, storeFlags...)
	args = append(args, "--", server)
	cmd := exec.Command(bin, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &aprProxy{t: t, in: in, wait: map[string]chan []byte{}, next: 100, done: make(chan struct{})}
	go func() {
		defer close(p.done)
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
		case <-p.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
		cmd.Wait()
		if t.Failed() {
			t.Logf("tollgate stderr:\n%s", stderr.String())
		}
	})
	p.await(p.start(`"initialize"`, "initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"approvals-test","version":"1"}}`))
	p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return p
}

func (p *aprProxy) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		p.t.Fatalf("write to tollgate: %v", err)
	}
}

// start sends a request and returns a channel with its response.
func (p *aprProxy) start(id, method, params string) chan []byte {
	ch := make(chan []byte, 1)
	p.mu.Lock()
	p.wait[id] = ch
	p.mu.Unlock()
	p.send(`{"jsonrpc":"2.0","id":` + id + `,"method":"` + method + `","params":` + params + `}`)
	return ch
}

func (p *aprProxy) await(ch chan []byte) []byte {
	p.t.Helper()
	select {
	case b := <-ch:
		return b
	case <-time.After(30 * time.Second):
		p.t.Fatal("no response from tollgate within 30s")
	}
	return nil
}

// call sends tools/call and waits for its response.
func (p *aprProxy) call(tool, args string) aprResult {
	p.t.Helper()
	return aprParse(p.t, p.await(p.callAsync(tool, args)))
}

func (p *aprProxy) callAsync(tool, args string) chan []byte {
	p.mu.Lock()
	p.next++
	id := strconv.Itoa(p.next)
	p.mu.Unlock()
	return p.start(id, "tools/call", `{"name":"`+tool+`","arguments":`+args+`}`)
}

type aprResult struct {
	raw    string
	text   string
	isErr  bool
	action string
	id     string
	rpcErr bool
}

func aprParse(t *testing.T, b []byte) aprResult {
	t.Helper()
	var m struct {
		Result *struct {
			Content []struct{ Text string } `json:"content"`
			IsError bool                    `json:"isError"`
			Meta    map[string]struct {
				Action     string `json:"action"`
				ApprovalID string `json:"approval_id"`
			} `json:"_meta"`
		} `json:"result"`
		Error *json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("response %s: %v", b, err)
	}
	r := aprResult{raw: string(b), rpcErr: m.Error != nil}
	if m.Result != nil {
		if len(m.Result.Content) > 0 {
			r.text = m.Result.Content[0].Text
		}
		r.isErr = m.Result.IsError
		d := m.Result.Meta["dev.tollgate/decision"]
		r.action, r.id = d.Action, d.ApprovalID
	}
	return r
}

func aprPending(t *testing.T, r aprResult) string {
	t.Helper()
	if r.action != "approval_required" || !approval.ValidID(r.id) || !strings.Contains(r.text, r.id) || !strings.Contains(r.text, "waits for a person") {
		t.Fatalf("want an approval-required answer, got %s", r.raw)
	}
	if strings.Contains(r.text, "tollgate approvals") {
		t.Fatalf("the held-call text tells the agent how to approve: %s", r.raw)
	}
	return r.id
}

func aprForwarded(t *testing.T, r aprResult, text string) {
	t.Helper()
	if r.action != "" || !strings.Contains(r.raw, text) {
		t.Fatalf("want the server's answer (%q), got %s", text, r.raw)
	}
}

// aprCLI runs `tollgate approvals ...` and returns its output and exit code.
// It runs in a session of its own, without a controlling terminal, as an
// agent's shell tool does.
func aprCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(mcptest.Tollgate(t), append([]string{"approvals"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// aprApprove approves id as the person: tester, who knows the passphrase.
func aprApprove(t *testing.T, pol, id string, store ...string) {
	t.Helper()
	out, errOut, code := aprCLI(t, append([]string{"approve", id, "-c", pol, "--approver", "tester", "--reason", "checked",
		"--passphrase-file", aprPassFile(t, aprPassphrase)}, store...)...)
	if code != 0 || !strings.Contains(out, "approved "+id) {
		t.Fatalf("approve %s: exit %d\n%s%s", id, code, out, errOut)
	}
}

func aprShow(t *testing.T, id string, store ...string) approval.Record {
	t.Helper()
	out, errOut, code := aprCLI(t, append([]string{"show", id, "--json"}, store...)...)
	if code != 0 {
		t.Fatalf("show %s: exit %d %s", id, code, errOut)
	}
	var r approval.Record
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("show %s: %v\n%s", id, err, out)
	}
	return r
}

func TestApprovalsEndToEnd(t *testing.T) {
	pol := aprWritePolicy(t, "", "")
	dir := filepath.Join(t.TempDir(), "state")
	store := []string{"--state-dir", dir}
	p := aprStart(t, pol, store...)

	aprForwarded(t, p.call("test_simple_text", `{"amount":10}`), aprSimpleText) // below the threshold
	id := aprPending(t, p.call("test_simple_text", `{"amount":60000,"memo":"rent"}`))
	if r := aprShow(t, id, store...); r.Status != approval.Pending || r.Tool != "test_simple_text" || r.Args != `{"amount":60000,"memo":"rent"}` {
		t.Fatalf("show: %+v", r)
	}
	out, _, _ := aprCLI(t, append([]string{"list"}, store...)...)
	if !strings.Contains(out, id) {
		t.Fatalf("list does not show %s:\n%s", id, out)
	}

	// An unknown or forged id does nothing.
	for _, forged := range []string{approval.NewID(), "apr_forged", id + "x"} {
		if _, errOut, code := aprCLI(t, append([]string{"approve", forged, "-c", pol}, store...)...); code != 1 || !strings.Contains(errOut, "no approval") {
			t.Fatalf("approve %q: exit %d %s", forged, code, errOut)
		}
	}
	aprPending(t, p.call("test_simple_text", `{"amount":60000,"memo":"rent"}`))

	aprApprove(t, pol, id, store...)
	// A changed argument needs its own approval.
	if other := aprPending(t, p.call("test_simple_text", `{"amount":60001,"memo":"rent"}`)); other == id {
		t.Fatal("a changed amount used the approval")
	}
	// The identical call (other key order and number spelling) runs once.
	aprForwarded(t, p.call("test_simple_text", `{"memo":"rent","amount":6.0e4}`), aprSimpleText)
	if r := aprShow(t, id, store...); r.Status != approval.Consumed || r.Approver != "tester" || r.Note != "checked" || !strings.HasPrefix(r.Signature, "ed25519:") {
		t.Fatalf("after the retry: %+v", r)
	}
	// A third identical call needs a new approval.
	if again := aprPending(t, p.call("test_simple_text", `{"amount":60000,"memo":"rent"}`)); again == id {
		t.Fatal("a consumed approval was reused")
	}
	if _, errOut, code := aprCLI(t, append([]string{"approve", id, "-c", pol}, store...)...); code != 1 || !strings.Contains(errOut, "already decided") {
		t.Fatalf("approving a consumed approval: exit %d %s", code, errOut)
	}
}

func TestApprovalsDeny(t *testing.T) {
	pol := aprWritePolicy(t, "", "")
	store := []string{"--state-dir", filepath.Join(t.TempDir(), "state")}
	p := aprStart(t, pol, store...)
	id := aprPending(t, p.call("test_simple_text", `{"amount":99999}`))
	if out, errOut, code := aprCLI(t, append([]string{"deny", id, "--approver", "bob", "--reason", "not this month"}, store...)...); code != 0 || !strings.Contains(out, "denied "+id) {
		t.Fatalf("deny: exit %d %s%s", code, out, errOut)
	}
	r := p.call("test_simple_text", `{"amount":99999}`)
	if r.action != "deny" || r.id != id || !strings.Contains(r.text, "[POLICY DENIED]") || !strings.Contains(r.text, "bob") || !strings.Contains(r.text, "not this month") {
		t.Fatalf("retry after a denial: %s", r.raw)
	}
}

func TestApprovalsRacingRetriesConsumeOnce(t *testing.T) {
	pol := aprWritePolicy(t, "", "")
	store := []string{"--state-dir", filepath.Join(t.TempDir(), "state")}
	p := aprStart(t, pol, store...)
	id := aprPending(t, p.call("test_simple_text", `{"amount":70000}`))
	aprApprove(t, pol, id, store...)
	const n = 8
	chans := make([]chan []byte, n)
	for i := range chans {
		chans[i] = p.callAsync("test_simple_text", `{"amount":70000}`)
	}
	through := 0
	for _, ch := range chans {
		r := aprParse(t, p.await(ch))
		if r.action == "" && strings.Contains(r.raw, aprSimpleText) {
			through++
		} else {
			aprPending(t, r)
		}
	}
	if through != 1 {
		t.Fatalf("%d of %d racing retries ran, want exactly 1", through, n)
	}
}

// TestApprovalsSpentWhenUpstreamFails: a forwarded call may have run, even
// when the server answers with an error, so its approval is spent.
func TestApprovalsSpentWhenUpstreamFails(t *testing.T) {
	pol := aprWritePolicy(t, "", "")
	store := []string{"--state-dir", filepath.Join(t.TempDir(), "state")}
	p := aprStart(t, pol, store...)
	id := aprPending(t, p.call("test_error_handling", `{}`))
	aprApprove(t, pol, id, store...)
	r := p.call("test_error_handling", `{}`)
	if r.action != "" || !(r.isErr || r.rpcErr) || !strings.Contains(r.raw, "intentionally returns an error") {
		t.Fatalf("the approved call did not reach the server: %s", r.raw)
	}
	if got := aprShow(t, id, store...); got.Status != approval.Consumed {
		t.Fatalf("after the upstream failed the approval is %s, want consumed", got.Status)
	}
	if again := aprPending(t, p.call("test_error_handling", `{}`)); again == id {
		t.Fatal("the spent approval was used again")
	}
}

func TestApprovalsExpire(t *testing.T) {
	pol := aprWritePolicy(t, "", "approval_timeout: 2s")
	store := []string{"--state-dir", filepath.Join(t.TempDir(), "state")}
	p := aprStart(t, pol, store...)
	id := aprPending(t, p.call("test_simple_text", `{"amount":60000}`))
	deadline := time.Now().Add(20 * time.Second)
	for aprShow(t, id, store...).Status != approval.Expired {
		if time.Now().After(deadline) {
			t.Fatal("the approval did not expire")
		}
		time.Sleep(100 * time.Millisecond) // polling an external process's clock
	}
	if _, errOut, code := aprCLI(t, append([]string{"approve", id, "-c", pol, "--passphrase-file", aprPassFile(t, aprPassphrase)}, store...)...); code != 1 || !strings.Contains(errOut, "expired") {
		t.Fatalf("approving an expired request: exit %d %s", code, errOut)
	}
	if again := aprPending(t, p.call("test_simple_text", `{"amount":60000}`)); again == id {
		t.Fatal("an expired approval was reused")
	}
}

func aprShared(t *testing.T, store []string) {
	pol := aprWritePolicy(t, "", "")
	a := aprStart(t, pol, store...)
	b := aprStart(t, pol, store...)
	id := aprPending(t, a.call("test_simple_text", `{"amount":123456}`))
	aprApprove(t, pol, id, store...)
	aprForwarded(t, b.call("test_simple_text", `{"amount":123456}`), aprSimpleText) // approved on A's request, used by B
	if again := aprPending(t, a.call("test_simple_text", `{"amount":123456}`)); again == id {
		t.Fatal("the approval B consumed was used again by A")
	}
}

func TestApprovalsSharedSQLite(t *testing.T) {
	aprShared(t, []string{"--state-dir", filepath.Join(t.TempDir(), "state")})
}

func TestApprovalsSharedRedis(t *testing.T) {
	url := mcptest.Redis(t)
	aprShared(t, []string{"--state", url, "--state-prefix", "aprtest" + strconv.FormatInt(time.Now().UnixNano(), 36)})
}

func TestApprovalsWebhook(t *testing.T) {
	type hit struct {
		body []byte
		sig  string
	}
	hits := make(chan hit, 4)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hits <- hit{b, r.Header.Get("X-Tollgate-Signature")}
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	defer srv.Close()
	pol := aprWritePolicy(t, "  notify:\n    webhook:\n      url: "+srv.URL+"/hook\n      secret: hunter2", "")
	p := aprStart(t, pol, "--state-dir", filepath.Join(t.TempDir(), "state"))
	id := aprPending(t, p.call("test_simple_text", `{"amount":60000}`))
	var h hit
	select {
	case h = <-hits:
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook delivery")
	}
	if !approval.Verify([]byte("hunter2"), h.body, h.sig) {
		t.Fatalf("signature %q does not verify over %s", h.sig, h.body)
	}
	var n approval.Notice
	if err := json.Unmarshal(h.body, &n); err != nil {
		t.Fatal(err)
	}
	if n.Event != "approval_requested" || n.ApprovalID != id || n.Tool != "test_simple_text" || n.Rule != "big" ||
		!strings.HasPrefix(n.ArgsHash, "sha256:") || n.ExpiresAt.IsZero() {
		t.Fatalf("notice %+v", n)
	}
}

func TestApprovalsAdminAPI(t *testing.T) {
	pol := aprWritePolicy(t, "", "")
	dir := filepath.Join(t.TempDir(), "state")
	addr := "127.0.0.1:" + strconv.Itoa(mcptest.FreePort(t))
	p := aprStart(t, pol, "--state-dir", dir, "--admin-addr", addr)
	id := aprPending(t, p.call("test_simple_text", `{"amount":60000}`))
	tokFile := filepath.Join(dir, "admin.token")
	tok, err := os.ReadFile(tokFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(tokFile); fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin.token mode %v", fi.Mode().Perm())
	}
	token := strings.TrimSpace(string(tok))
	if code, _ := aprHTTP(t, "GET", "http://"+addr+"/v1/approvals?status=pending", "", "nope"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code, body := aprHTTP(t, "GET", "http://"+addr+"/v1/approvals?status=pending", "", token); code != 200 || !strings.Contains(body, id) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body := aprHTTP(t, "POST", "http://"+addr+"/v1/approvals/"+approval.NewID()+"/approve", `{"approver":"tester","signature":"ed25519:AAAA"}`, token); code != 404 {
		t.Fatalf("forged id: %d %s", code, body)
	}
	if code, body := aprHTTP(t, "POST", "http://"+addr+"/v1/approvals/"+id+"/approve", `{"approver":"carol","reason":"ok"}`, token); code != http.StatusForbidden {
		t.Fatalf("approve without a signature: %d %s", code, body)
	}
	// tollgate approvals sign makes the body; the API checks it and stores it.
	out, errOut, code := aprCLI(t, "sign", id, "-c", pol, "--passphrase-file", aprPassFile(t, aprPassphrase), "--state-dir", dir)
	if code != 0 || !strings.Contains(out, `"signature":"ed25519:`) {
		t.Fatalf("sign: exit %d %s%s", code, out, errOut)
	}
	if code, body := aprHTTP(t, "POST", "http://"+addr+"/v1/approvals/"+id+"/approve", strings.TrimSpace(out), token); code != 200 || !strings.Contains(body, `"approver": "tester"`) {
		t.Fatalf("approve with the signed body: %d %s", code, body)
	}
	aprForwarded(t, p.call("test_simple_text", `{"amount":60000}`), aprSimpleText)

	// approve --admin-url does the same in one step.
	id2 := aprPending(t, p.call("test_simple_text", `{"amount":60001}`))
	api := []string{"--admin-url", "http://" + addr, "--admin-token-file", tokFile}
	if out, errOut, code := aprCLI(t, append([]string{"approve", id2, "--approver", "tester", "--passphrase-file", aprPassFile(t, aprPassphrase)}, api...)...); code != 0 || !strings.Contains(out, "approved "+id2) {
		t.Fatalf("approve --admin-url: exit %d %s%s", code, out, errOut)
	}
	aprForwarded(t, p.call("test_simple_text", `{"amount":60001}`), aprSimpleText)
	id3 := aprPending(t, p.call("test_simple_text", `{"amount":60002}`))
	if out, errOut, code := aprCLI(t, append([]string{"deny", id3, "--approver", "ops"}, api...)...); code != 0 || !strings.Contains(out, "denied "+id3) {
		t.Fatalf("deny --admin-url: exit %d %s%s", code, out, errOut)
	}
}

func aprHTTP(t *testing.T, method, url, body, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestApprovalsInlineElicitation(t *testing.T) {
	pol := aprWritePolicy(t, "  inline: true", "")
	// 2025-11-25: Tollgate sends elicitation/create while the call waits;
	// the SDK's default, 2026-07-28: the call is answered input_required
	// with the question, and the SDK retries it with the answer.
	for _, version := range []string{"2025-11-25", ""} {
		for _, tc := range []struct {
			action  string
			forward bool
			want    approval.Status
		}{{"accept", true, approval.Consumed}, {"decline", false, approval.Denied}, {"cancel", false, approval.Pending}} {
			name := tc.action
			if version != "" {
				name = version + "/" + tc.action
			}
			t.Run(name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "state")
				var asked []string
				client := sdk.NewClient(&sdk.Implementation{Name: "approvals-inline-test", Version: "1"}, &sdk.ClientOptions{
					ElicitationHandler: func(ctx context.Context, req *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
						asked = append(asked, req.Params.Message)
						return &sdk.ElicitResult{Action: tc.action}, nil
					},
				})
				cmd := exec.Command(mcptest.Tollgate(t), "run", "-c", pol, "--state-dir", dir, "--log-level", "warn", "--", mcptest.Peer(t, "everything-server"))
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				session, err := client.Connect(ctx, &sdk.CommandTransport{Command: cmd}, &sdk.ClientSessionOptions{ProtocolVersion: version})
				if err != nil {
					t.Fatal(err)
				}
				defer session.Close()
				want := version
				if want == "" {
					want = "2026-07-28" // the input_required form is what this case covers
				}
				if ir := session.InitializeResult(); ir == nil || ir.ProtocolVersion != want {
					t.Fatalf("negotiated %+v, want %s", ir, want)
				}
				res, err := session.CallTool(ctx, &sdk.CallToolParams{Name: "test_simple_text", Arguments: map[string]any{"amount": 75000, "to": "ops"}})
				if err != nil {
					t.Fatal(err)
				}
				if len(asked) != 1 || !strings.Contains(asked[0], "test_simple_text") || !strings.Contains(asked[0], "75000") || !strings.Contains(asked[0], "big") {
					t.Fatalf("elicitation messages %q", asked)
				}
				text := res.Content[0].(*sdk.TextContent).Text
				if tc.forward {
					if res.IsError || text != aprSimpleText {
						t.Fatalf("accepted call: %+v %q", res, text)
					}
				} else if tc.want == approval.Denied && (!res.IsError || !strings.HasPrefix(text, "[POLICY DENIED]")) {
					t.Fatalf("declined call: %q", text)
				} else if tc.want == approval.Pending && (!res.IsError || !strings.HasPrefix(text, "[APPROVAL REQUIRED]")) {
					t.Fatalf("cancelled call: %q", text)
				}
				list, _, _ := aprCLI(t, "list", "--status", "all", "--json", "--state-dir", dir)
				var recs []approval.Record
				json.Unmarshal([]byte(list), &recs)
				if len(recs) != 1 || recs[0].Status != tc.want || (tc.want != approval.Pending && !strings.HasPrefix(recs[0].Approver, "mcp-client")) {
					t.Fatalf("records %+v, want one %s", recs, tc.want)
				}
			})
		}
	}
}
