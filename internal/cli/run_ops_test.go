package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tollgate-mcp/tollgate/internal/audit"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// opsProxy is a tollgate run process in front of the Go SDK's
// everything-server, driven one request at a time.
type opsProxy struct {
	t      *testing.T
	cmd    *exec.Cmd
	in     io.WriteCloser
	lines  chan []byte
	stderr *strings.Builder
	next   int
}

func opsStart(t *testing.T, flags ...string) *opsProxy {
	t.Helper()
	bin := mcptest.Tollgate(t)
	server := mcptest.Peer(t, "everything-server")
	args := append([]string{"run", "--log-level", "info"}, flags...)
	args = append(args, "--", server)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir())
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &opsProxy{t: t, cmd: cmd, in: in, lines: make(chan []byte, 64), stderr: &strings.Builder{}, next: 1}
	cmd.Stderr = syncWriter{p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("tollgate stderr:\n%s", p.stderrText())
		}
	})
	p.request("initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"ops-test","version":"1"}}`)
	io.WriteString(in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	return p
}

var stderrMu = make(chan struct{}, 1)

type syncWriter struct{ b *strings.Builder }

func (w syncWriter) Write(p []byte) (int, error) {
	stderrMu <- struct{}{}
	defer func() { <-stderrMu }()
	return w.b.Write(p)
}

func (p *opsProxy) stderrText() string {
	stderrMu <- struct{}{}
	defer func() { <-stderrMu }()
	return p.stderr.String()
}

// stop closes Tollgate's stdin and waits for it to exit.
func (p *opsProxy) stop() {
	if p.in == nil {
		return
	}
	p.in.Close()
	p.in = nil
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-done
		p.t.Error("tollgate did not exit after its stdin closed")
	}
}

type rpcReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (p *opsProxy) request(method, params string) rpcReply {
	p.t.Helper()
	id := p.next
	p.next++
	fmt.Fprintf(p.in, `{"jsonrpc":"2.0","id":%d,"method":%q,"params":%s}`+"\n", id, method, params)
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("tollgate closed its stdout waiting for %s", method)
			}
			var m struct {
				ID json.RawMessage `json:"id"`
				rpcReply
			}
			if json.Unmarshal(line, &m) != nil || string(m.ID) != fmt.Sprint(id) {
				continue
			}
			return m.rpcReply
		case <-deadline:
			p.t.Fatalf("no answer to %s within 20s", method)
		}
	}
}

// call calls a tool and returns the text of its result and whether it
// is a policy denial.
func (p *opsProxy) call(tool, args string) (text string, denied bool) {
	p.t.Helper()
	r := p.request("tools/call", fmt.Sprintf(`{"name":%q,"arguments":%s}`, tool, args))
	if r.Error != nil {
		p.t.Fatalf("tools/call %s: error %d %s", tool, r.Error.Code, r.Error.Message)
	}
	var res struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		IsError bool                       `json:"isError"`
		Meta    map[string]json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(r.Result, &res); err != nil {
		p.t.Fatal(err)
	}
	for _, c := range res.Content {
		text += c.Text
	}
	_, hasDecision := res.Meta["dev.tollgate/decision"]
	return text, res.IsError && hasDecision
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func auditRecords(t *testing.T, dir string) []*audit.Record {
	t.Helper()
	var out []*audit.Record
	if _, err := audit.Scan(dir, time.Time{}, func(_ audit.ChainFile, r *audit.Record) { out = append(out, r) }); err != nil {
		t.Fatal(err)
	}
	return out
}

func findCall(recs []*audit.Record, tool, decision string, monitor bool) *audit.Record {
	for _, r := range recs {
		if r.Event == audit.KindCall && r.Tool == tool && r.Decision == decision && r.Monitor == monitor {
			return r
		}
	}
	return nil
}

const denySimpleText = `version: "1"
tools:
  test_simple_text:
    rules:
      - name: no simple text
        action: deny
        on_deny: "simple text is not allowed"
`

func TestMonitorModeForwardsAndRecords(t *testing.T) {
	watched := strings.Replace(denySimpleText, "action: deny", "action: deny\n        mode: monitor", 1)
	tests := []struct {
		name   string
		policy string
		flags  []string
	}{
		{"--mode monitor", denySimpleText, []string{"--mode", "monitor"}},
		{"rule mode: monitor", watched, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pol := filepath.Join(dir, "p.yaml")
			writeFile(t, pol, tc.policy)
			auditDir := filepath.Join(dir, "audit")
			p := opsStart(t, append([]string{"-c", pol, "--state", "memory", "--audit", auditDir}, tc.flags...)...)
			text, denied := p.call("test_simple_text", `{}`)
			if denied || !strings.Contains(text, "This is a simple text response for testing.") {
				t.Fatalf("the call did not reach the server: denied=%v text=%q", denied, text)
			}
			p.stop()
			recs := auditRecords(t, auditDir)
			would := findCall(recs, "test_simple_text", "deny", true)
			if would == nil || would.Rule != "no simple text" || would.Reason != "simple text is not allowed" {
				t.Fatalf("no would-deny line with monitor: true in the audit trail: %+v", recs)
			}
			done := findCall(recs, "test_simple_text", "allow", false)
			if done == nil || done.Outcome != "ok" || done.LatencyMS <= 0 || done.ArgsSHA256 == "" {
				t.Errorf("no completed allow line: %+v", done)
			}
			if reps, err := audit.Verify([]string{auditDir}); err != nil || reps[0].Problem != nil || !reps[0].Stopped {
				t.Errorf("audit verify: %+v %v", reps, err)
			}
		})
	}
	t.Run("enforce denies", func(t *testing.T) {
		dir := t.TempDir()
		pol := filepath.Join(dir, "p.yaml")
		writeFile(t, pol, denySimpleText)
		p := opsStart(t, "-c", pol, "--state", "memory", "--audit", filepath.Join(dir, "audit"))
		if text, denied := p.call("test_simple_text", `{}`); !denied || !strings.Contains(text, "[POLICY DENIED] simple text is not allowed") {
			t.Errorf("enforce mode let the call through: %q", text)
		}
	})
}

func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		for _, m := range f.Metric {
			key := name
			for _, l := range m.Label {
				key += fmt.Sprintf(",%s=%s", l.GetName(), l.GetValue())
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				out[key] = float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return out
}

// TestReloadThroughTheBinary edits the policy of a running tollgate run:
// by rename, in place, and with an invalid file, checking the next call,
// the audit trail, the metrics and tollgate status.
func TestReloadThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	allowAll := "version: \"1\"\ndescription: allow\n"
	writeFile(t, pol, allowAll)
	auditDir := filepath.Join(dir, "audit")
	addr := fmt.Sprintf("127.0.0.1:%d", mcptest.FreePort(t))
	p := opsStart(t, "-c", pol, "--state", "memory", "--audit", auditDir, "--metrics-addr", addr)

	if _, denied := p.call("test_simple_text", `{}`); denied {
		t.Fatal("denied under the allow-all policy")
	}
	// awaitDenied polls with calls until the reload shows (or not).
	awaitDenied := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, denied := p.call("test_simple_text", `{}`)
			if denied == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("after 10s the call is still denied=%v", denied)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	tmp := pol + ".new"
	writeFile(t, tmp, denySimpleText)
	if err := os.Rename(tmp, pol); err != nil {
		t.Fatal(err)
	}
	awaitDenied(true)
	writeFile(t, pol, allowAll) // in place
	awaitDenied(false)
	writeFile(t, tmp, denySimpleText)
	os.Rename(tmp, pol)
	awaitDenied(true)

	writeFile(t, pol, denySimpleText+"      - nmae: typo\n") // invalid
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderrText(), `unknown key \"nmae\"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the invalid policy was not reported in the log:\n%s", p.stderrText())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, denied := p.call("test_simple_text", `{}`); !denied {
		t.Error("an invalid reload replaced the policy")
	}

	m := scrapeMetrics(t, addr)
	for key, want := range map[string]float64{
		"tollgate_reloads_total,result=ok":                          3,
		"tollgate_reloads_total,result=invalid":                     1,
		"tollgate_calls_total,decision=deny,tool=test_simple_text":  -1, // at least one
		"tollgate_calls_total,decision=allow,tool=test_simple_text": -1,
		"tollgate_inflight_calls":                                   0,
		"tollgate_audit_write_errors_total":                         0,
	} {
		got, ok := m[key]
		switch {
		case !ok:
			t.Errorf("no metric %s", key)
		case want < 0 && got < 1, want >= 0 && got != want:
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	p.stop()

	recs := auditRecords(t, auditDir)
	var results []string
	for _, r := range recs {
		if r.Event == audit.KindReload {
			results = append(results, r.Result)
			if r.Result == "invalid" && (len(r.Errors) == 0 || !strings.Contains(r.Errors[0], "nmae")) {
				t.Errorf("the invalid reload's problems are not in the audit trail: %+v", r)
			}
		}
	}
	if strings.Join(results, ",") != "ok,ok,ok,invalid" {
		t.Errorf("reload lines %v, want ok,ok,ok,invalid", results)
	}
	if recs[0].Event != audit.KindStart || recs[len(recs)-1].Event != audit.KindStop {
		t.Errorf("first and last lines: %s, %s", recs[0].Event, recs[len(recs)-1].Event)
	}
	code, out, errs := run(t, "audit", "verify", auditDir)
	if code != exitOK || !strings.HasPrefix(out, "ok: ") {
		t.Errorf("audit verify: exit %d\n%s%s", code, out, errs)
	}
	code, out, _ = run(t, "status", "--audit-dir", auditDir)
	if code != exitOK || !strings.Contains(out, "no simple text") || !strings.Contains(out, "was not applied (invalid)") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
}

func TestSecretsStayOutOfTheAuditTrail(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	writeFile(t, pol, "version: \"1\"\naudit:\n  arguments: full\n  redact: [args.password]\n")
	auditDir := filepath.Join(dir, "audit")
	// A Redis without a password accepts any password for its default
	// user: the run starts, and the start line must not carry it.
	dsn := strings.Replace(mcptest.Redis(t), "redis://", "redis://default:hunter2@", 1)
	p := opsStart(t, "-c", pol, "--state", dsn, "--audit", auditDir)
	p.call("test_simple_text", `{"password":"s3cret-pw","user":"bob"}`)
	p.stop()
	var all strings.Builder
	files, _ := audit.ListFiles(auditDir)
	for _, f := range files {
		b, _ := os.ReadFile(f.Path)
		all.Write(b)
	}
	for _, secret := range []string{"hunter2", "s3cret-pw"} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("%q reached the audit trail:\n%s", secret, all.String())
		}
	}
	if !strings.Contains(all.String(), `"password":"[REDACTED]","user":"bob"`) {
		t.Errorf("the redacted arguments are not recorded:\n%s", all.String())
	}
}

func TestAuditDirFlags(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	writeFile(t, pol, "version: \"1\"\n")
	state := filepath.Join(dir, "state")
	p := opsStart(t, "-c", pol, "--state-dir", state, "--audit-max-size", "1KiB")
	for range 12 {
		p.call("test_simple_text", `{}`)
	}
	p.stop()
	files, err := audit.ListFiles(filepath.Join(state, "audit"))
	if err != nil || len(files) < 2 {
		t.Fatalf("want rotated files under <state-dir>/audit: %v %v", files, err)
	}
	if code, out, _ := run(t, "audit", "verify", "--state-dir", state); code != exitOK || !strings.HasPrefix(out, "ok: 14 lines") {
		t.Errorf("verify: exit %d %s", code, out)
	}

	off := filepath.Join(dir, "state-off")
	p = opsStart(t, "-c", pol, "--state-dir", off, "--audit", "off")
	p.call("test_simple_text", `{}`)
	p.stop()
	if _, err := os.Stat(filepath.Join(off, "audit")); !os.IsNotExist(err) {
		t.Errorf("--audit off wrote an audit directory: %v", err)
	}

	code, _, errs := run(t, "run", "-c", pol, "--audit-max-size", "lots", "--state", "memory", "--", "true")
	if code == exitOK || !strings.Contains(errs, "--audit-max-size") {
		t.Errorf("bad --audit-max-size: exit %d %s", code, errs)
	}
}

// TestAuditRequiredWiring: a policy with audit.required runs its calls
// while the audit trail records them (the gate is told the trail's health:
// without it every call would be refused), and a process started with
// --audit off refuses to run it, saying why.
func TestAuditRequiredWiring(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	writeFile(t, pol, "version: \"1\"\naudit:\n  required: true\n")
	state := filepath.Join(dir, "state")
	p := opsStart(t, "-c", pol, "--state-dir", state)
	if text, denied := p.call("test_simple_text", `{}`); denied {
		t.Fatalf("a call under audit.required with a working trail was denied: %s", text)
	}
	p.stop()
	if code, out, _ := run(t, "audit", "verify", "--state-dir", state); code != exitOK || !strings.HasPrefix(out, "ok: 3 lines") {
		t.Errorf("verify: exit %d %s", code, out)
	}
	code, _, errs := run(t, "run", "-c", pol, "--audit", "off", "--state", "memory", "--", "true")
	if code == exitOK || !strings.Contains(errs, "audit.required") || !strings.Contains(errs, "--audit off") {
		t.Errorf("--audit off with audit.required: exit %d %s", code, errs)
	}

	// A process without an audit trail rejects a reload to such a policy,
	// and keeps the one in force.
	plain := filepath.Join(dir, "plain.yaml")
	writeFile(t, plain, "version: \"1\"\n")
	p = opsStart(t, "-c", plain, "--state-dir", filepath.Join(dir, "off"), "--audit", "off")
	writeFile(t, plain, "version: \"1\"\naudit:\n  required: true\n")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.stderrText(), "audit.required") {
		if time.Now().After(deadline) {
			t.Fatalf("the reload to audit.required was not rejected in the log:\n%s", p.stderrText())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if text, denied := p.call("test_simple_text", `{}`); denied {
		t.Errorf("after the rejected reload a call was denied: %s", text)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"64MiB": 64 << 20, "10MB": 10e6, "512KiB": 512 << 10, "1GiB": 1 << 30, "4096": 4096, "100B": 100} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1MiB", "lots", "1.5MiB", "99999999999GiB"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

// A fixed --metrics-addr or --admin-addr already in use (a second copy
// started by the same client configuration) does not stop the proxy: it
// warns on stderr and serves MCP without them. A port that is merely
// refused for another reason still fails (see TestAdminRemoteRefused).
func TestOpsAddrInUseServesMCP(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	addr := held.Addr().String()
	for _, flag := range []string{"--metrics-addr", "--admin-addr"} {
		t.Run(flag, func(t *testing.T) {
			dir := t.TempDir()
			pol := filepath.Join(dir, "policy.yaml")
			writeFile(t, pol, "version: \"1\"\ndefault: allow\n")
			p := opsStart(t, "-c", pol, "--audit", "off", "--state-dir", dir, flag, addr)
			if text, denied := p.call("test_simple_text", `{}`); denied || text == "" {
				t.Errorf("call through the proxy: %q, denied %v", text, denied)
			}
			if !strings.Contains(p.stderrText(), "address is in use") {
				t.Errorf("no warning on stderr:\n%s", p.stderrText())
			}
		})
	}
}

// The admin API on a non-loopback address without --admin-allow-remote is
// still a refusal to start: only an address in use is forgiven.
func TestAdminRemoteRefused(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policy.yaml")
	writeFile(t, pol, "version: \"1\"\ndefault: allow\n")
	out := tollgateOut(t, nil, "", "run", "-c", pol, "--state-dir", dir, "--admin-addr", "0.0.0.0:0", "--", "sh", "-c", "cat >/dev/null")
	if !strings.Contains(out, "loopback") {
		t.Errorf("tollgate started with a remote admin address:\n%s", out)
	}
}
