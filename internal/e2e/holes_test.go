package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// What an agent *does*, rather than what it spells, must not get a call
// past the gate: these tests attack through the built binary.

// recordingServer returns the argv of the fake server behind a tee that
// appends every line Tollgate sends it to the returned log file.
func recordingServer(t *testing.T) (argv []string, logFile string) {
	t.Helper()
	logFile = filepath.Join(t.TempDir(), "server-received.log")
	exe := fakeArgv(t)[0]
	return []string{"sh", "-c", `tee -a "$1" | "$2"`, "sh", logFile, exe}, logFile
}

// statusJSON runs `tollgate status --json` over a state directory.
func statusJSON(t *testing.T, stateDir string) map[string]any {
	t.Helper()
	out, err := exec.Command(mcptest.Tollgate(t), "status", "--json", "--state-dir", stateDir).Output()
	if err != nil {
		t.Fatalf("tollgate status: %v", err)
	}
	var rep map[string]any
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("status output: %v\n%s", err, out)
	}
	return rep
}

// waitAudit waits until the audit trail under stateDir has a line that
// contains every one of parts.
func waitAudit(t *testing.T, stateDir string, parts ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(stateDir, "tollgate", "audit", "*"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			for _, line := range strings.Split(string(data), "\n") {
				ok := line != ""
				for _, p := range parts {
					ok = ok && strings.Contains(line, p)
				}
				if ok {
					return line
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit line with %q under %s", parts, stateDir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A tools/call sent as a notification (no id) never reaches the server, in
// either protocol era and whatever the tool; it is audited as invalid, with
// what the policy would have said, and counted by status.
func TestNotificationCallNeverReachesServer(t *testing.T) {
	for _, era := range []string{"2025-06-18", "2026-07-28"} {
		t.Run(era, func(t *testing.T) {
			state := t.TempDir()
			server, logFile := recordingServer(t)
			p := startTollgate(t, bypassPolicy, []string{"TOLLGATE_E2E_FAKE=echo", "XDG_STATE_HOME=" + state}, server...)
			meta := ""
			if era == "2026-07-28" {
				meta = `,"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
			}
			notifications := []string{
				`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"create_refund","arguments":{"amount":1}` + meta + `}}`,
				`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"create_refund","arguments":{"amount":5000}` + meta + `}}`,
				`{"jsonrpc":"2.0","method":"tools/call","params":{"name":"delete_repository","arguments":{}` + meta + `}}`,
				`{"jsonrpc":"2.0","method":"tools\/call","params":{"name":"create_refund","arguments":{"amount":2}` + meta + `}}`,
				`{"jsonrpc":"2.0","meth\u006fd":"tools/call","params":{"name":"create_refund","arguments":{"amount":3}` + meta + `}}`,
			}
			for _, n := range notifications {
				if _, err := io.WriteString(p.stdin, n+"\n"); err != nil {
					t.Fatal(err)
				}
			}
			// A request after them: once it is answered, the server has
			// read everything Tollgate sent before it.
			got := p.roundTrip(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":7}`+meta+`}}`)
			if !strings.Contains(got, "ran: create_refund") {
				t.Fatalf("fair call: %s", got)
			}
			// tee writes the pipe before the file: the server may answer
			// before the fair call is in the log.
			var data []byte
			mcptest.Eventually(t, 10*time.Second, func() bool {
				data, _ = os.ReadFile(logFile)
				return strings.Contains(string(data), `"amount":7`)
			}, "the fair call in the server's log")
			if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"amount":7`) {
				t.Errorf("the server received more than the one call:\n%s", data)
			}
			waitAudit(t, state, `"decision":"invalid"`, `"tool":"delete_repository"`, "never forwarded")
			line := waitAudit(t, state, `"decision":"invalid"`, `"tool":"create_refund"`, "would have answered deny")
			if !strings.Contains(line, `"rule":"cap"`) {
				t.Errorf("a dropped call over the cap is not recorded with its rule: %s", line)
			}
			p.stdin.Close()
			_ = p.cmd.Wait()
			rep := statusJSON(t, filepath.Join(state, "tollgate"))
			inst, _ := rep["instances"].([]any)
			if len(inst) != 1 {
				t.Fatalf("status instances: %v", rep["instances"])
			}
			if n := inst[0].(map[string]any)["invalid"]; n != float64(len(notifications)) {
				t.Errorf("status counts %v invalid messages, want %d", n, len(notifications))
			}
		})
	}
}

// Under default: deny, a tool the server never listed, a hidden tool and a
// tool that does not exist all get the server's own unknown-tool answer; a
// listed tool the policy does not permit gets a denial. The Go SDK's
// conformance server, in both eras.
func TestHiddenAndUnlistedLookAbsent(t *testing.T) {
	const pol = `version: "1"
default: deny
hide: [test_image_content]
tools:
  test_simple_text:
    rules:
      - action: allow
`
	for _, version := range []string{"2026-07-28", "2025-11-25", "2024-11-05"} {
		t.Run(version, func(t *testing.T) {
			tg := mcptest.Tollgate(t)
			server := mcptest.Peer(t, "everything-server")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.Command(tg, "run", "-c", writePolicy(t, pol), "--state", "memory", "--audit", "off", "--", server)
			cmd.Stderr = &testLog{t: t}
			client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
			cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			call := func(name string) string {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name})
				if err != nil {
					return strings.ReplaceAll(err.Error(), name, "NAME")
				}
				b, _ := json.Marshal(res)
				return strings.ReplaceAll(string(b), name, "NAME")
			}
			// Before any tools/list: nothing is known to be listed.
			before := call("test_error_handling")
			missing := call("no_such_tool_at_all")
			if !strings.Contains(missing, "NAME") {
				t.Fatalf("missing tool answered %s", missing)
			}
			if before != missing {
				t.Errorf("an unlisted tool under default: deny is told apart from a missing one:\n%s\n%s", before, missing)
			}
			if _, err := cs.ListTools(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if got := call("test_image_content"); got != missing {
				t.Errorf("a hidden tool is told apart from a missing one:\n%s\n%s", got, missing)
			}
			if got := call("test_error_handling"); !strings.Contains(got, "[POLICY DENIED]") {
				t.Errorf("a listed tool the policy does not permit: %s", got)
			}
			if got := call("test_simple_text"); strings.Contains(got, "isError\":true") || strings.Contains(got, "DENIED") {
				t.Errorf("allowed tool: %s", got)
			}
		})
	}
}

// refundBudget caps refunds at 100 a day, with the amount of a call that
// fails given back.
const refundBudget = `version: "1"
tools:
  create_refund:
    rules:
      - name: refund budget
        conditions:
          - path: state.create_refund.refunded
            op: lte
            value: 100
        state:
          counter: refunded
          window: day
          increment_from: args.amount
`

// A spend that a failed call gives back is kept when the client cancelled
// the call after it was forwarded: the server may have run it, whatever
// error it then answers with.
func TestCancelledCallKeepsItsCharge(t *testing.T) {
	state := t.TempDir()
	p := startTollgate(t, refundBudget, []string{"TOLLGATE_E2E_FAKE=cancel-errors", "XDG_STATE_HOME=" + state}, fakeArgv(t)...)
	// A failed call (the server answers with an error) gives its amount back.
	if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":100,"fail":true}}}`); !strings.Contains(got, `"error"`) {
		t.Fatalf("failing call: %s", got)
	}
	waitAudit(t, state, `"outcome":"error"`, `"tool":"create_refund"`)
	// The whole budget is there again: a call of 100 is forwarded; the
	// client cancels it (with the id spelt another way) and the server
	// answers the cancelled call with an error.
	if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":100}}}`); !strings.Contains(got, "running 2") {
		t.Fatalf("the call did not start: %s", got)
	}
	got := p.roundTrip(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":2.0,"reason":"changed my mind"}}`)
	if !strings.Contains(got, `"id":2`) || !strings.Contains(got, "cancelled") {
		t.Fatalf("cancelled call answered %s", got)
	}
	waitAudit(t, state, `"outcome":"cancelled"`, `"tool":"create_refund"`)
	// The 100 stays spent: one more unit is over the cap.
	if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":1}}}`); !strings.Contains(got, "[POLICY DENIED]") {
		t.Errorf("the cancelled call's spend was given back: %s", got)
	}
}

// A cancellation that names the call by the id's other kind ("2" for 2)
// cancels it on a server that keys calls by property name, as a
// JavaScript object does; the call keeps its charge as any cancelled call
// does, whatever error the server then answers.
func TestCancelledByItsOtherKindOfIDKeepsItsCharge(t *testing.T) {
	for _, c := range []struct{ id, cancel string }{{`2`, `"2"`}, {`"2"`, `2.0`}} {
		t.Run(c.id, func(t *testing.T) {
			state := t.TempDir()
			p := startTollgate(t, refundBudget, []string{"TOLLGATE_E2E_FAKE=cancel-errors", "XDG_STATE_HOME=" + state}, fakeArgv(t)...)
			if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":`+c.id+`,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":100}}}`); !strings.Contains(got, "running "+c.id) {
				t.Fatalf("the call did not start: %s", got)
			}
			got := p.roundTrip(t, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":`+c.cancel+`,"reason":"changed my mind"}}`)
			if !strings.Contains(got, `"id":`+c.id+`,`) || !strings.Contains(got, "cancelled") {
				t.Fatalf("cancelled call answered %s", got)
			}
			waitAudit(t, state, `"outcome":"cancelled"`, `"tool":"create_refund"`)
			if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":1}}}`); !strings.Contains(got, "[POLICY DENIED]") {
				t.Errorf("the cancelled call's spend was given back: %s", got)
			}
		})
	}
}

// A reload that changes what is hidden tells the client its tool list
// changed, and the next list is filtered by the new policy; --mode monitor
// hides nothing but records what would have been hidden.
func TestReloadHidingToolsNotifiesClient(t *testing.T) {
	tg := mcptest.Tollgate(t)
	server := mcptest.Peer(t, "everything-server")
	for _, version := range []string{"2025-11-25", "2024-11-05"} {
		t.Run(version, func(t *testing.T) {
			pol := writePolicy(t, "version: \"1\"\n")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.Command(tg, "run", "-c", pol, "--state", "memory", "--audit", "off", "--", server)
			cmd.Stderr = &testLog{t: t}
			changed := make(chan struct{}, 8)
			client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, &mcp.ClientOptions{
				ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} },
			})
			cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			names := func() []string {
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
			if !slices.Contains(names(), "test_simple_text") {
				t.Fatal("test_simple_text not listed before the reload")
			}
			// A reload that changes nothing visible says nothing.
			if err := os.WriteFile(pol, []byte("version: \"1\"\ndescription: same tools\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(pol, []byte("version: \"1\"\nhide: [test_simple_text]\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatal("no notifications/tools/list_changed after a reload that hides a tool")
			}
			if slices.Contains(names(), "test_simple_text") {
				t.Error("the hidden tool is still listed after the reload")
			}
			select {
			case <-changed:
				t.Error("a second list_changed for one change")
			default:
			}
		})
	}
}

func TestMonitorModeForwardsHiddenTools(t *testing.T) {
	tg := mcptest.Tollgate(t)
	server := mcptest.Peer(t, "everything-server")
	state := t.TempDir()
	pol := writePolicy(t, "version: \"1\"\nhide: [test_simple_text]\n")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.Command(tg, "run", "-c", pol, "--mode", "monitor", "--state-dir", filepath.Join(state, "tollgate"), "--", server)
	cmd.Stderr = &testLog{t: t}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	lt, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(lt.Tools, func(tl *mcp.Tool) bool { return tl.Name == "test_simple_text" }) {
		t.Error("monitor mode hid a tool from tools/list")
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
	if err != nil || res.IsError {
		t.Fatalf("monitor mode did not forward the hidden tool: %v %+v", err, res)
	}
	line := waitAudit(t, state, `"decision":"hidden"`, `"tool":"test_simple_text"`)
	if !strings.Contains(line, `"monitor":true`) {
		t.Errorf("the would-be-hidden call is not recorded as monitored: %s", line)
	}
}

// namesPolicy hides one tool and denies another.
const namesPolicy = `version: "1"
hide: [internal_admin]
tools:
  delete_repository:
    rules:
      - name: no deletes
        action: deny
`

// A server that reads tool names loosely (without regard to case, trimmed,
// without control or invisible characters, up to a NUL) runs the tool a
// policy governs for a call that spells its name another way. The fake
// server runs any name it is sent; none of these calls may reach it, and
// a name that reads as a hidden tool's is answered as a missing tool is.
func TestNameVariantsDoNotSlipPastRules(t *testing.T) {
	const pol = namesPolicy + `  drop_*:
    rules:
      - name: no drops
        action: deny
`
	state := t.TempDir()
	server, logFile := recordingServer(t)
	p := startTollgate(t, pol, []string{"TOLLGATE_E2E_FAKE=echo", "XDG_STATE_HOME=" + state}, server...)
	call := func(id int, name string) string {
		b, _ := json.Marshal(name)
		return p.roundTrip(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%s,"arguments":{}}}`, id, b))
	}
	for i, name := range []string{"Delete_Repository", "DELETE_REPOSITORY", "delete_repository ", " delete_repository",
		"delete_repository\u0000", "delete_repository\u0000ignored", "\u200bdelete_repository", "delete_repository\u00ad",
		"delete_repo\u017fitory", "\ufeffdelete_repository", "Drop_Table", "drop_TABLE\t"} {
		got := call(i+1, name)
		if !strings.Contains(got, "[POLICY DENIED]") || strings.Contains(got, "ran:") {
			t.Errorf("call to %q: %s", name, got)
		}
	}
	missing := strings.ReplaceAll(call(50, "no_such_tool"), "no_such_tool", "NAME")
	for i, name := range []string{"Internal_Admin", "internal_admin\u0000"} {
		esc, _ := json.Marshal(name)
		got := strings.ReplaceAll(call(51+i, name), strings.Trim(string(esc), `"`), "NAME")
		got = strings.Replace(got, fmt.Sprintf(`"id":%d`, 51+i), `"id":50`, 1)
		if got != missing {
			t.Errorf("a name that reads as a hidden tool's is told apart from a missing tool:\n%s\n%s", got, missing)
		}
	}
	// Names the policy does not govern, and the exact names, go as before.
	if got := call(60, "Other_Tool"); !strings.Contains(got, "ran: Other_Tool") {
		t.Errorf("a tool the policy does not govern: %s", got)
	}
	if got := call(61, "drop_table"); !strings.Contains(got, `no drops`) {
		t.Errorf("the exact name: %s", got)
	}
	mcptest.Eventually(t, 10*time.Second, func() bool {
		data, _ := os.ReadFile(logFile)
		return strings.Contains(string(data), "Other_Tool")
	}, "the ungoverned call in the server's log")
	data, _ := os.ReadFile(logFile)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.Contains(line, `"tools/call"`) && !strings.Contains(line, "Other_Tool") && !strings.Contains(line, "no_such_tool") && !strings.Contains(line, "tollgate_probe_") {
			t.Errorf("the server received a governed tool's call under another name: %s", line)
		}
	}
	waitAudit(t, state, `"decision":"deny"`, `reads as \"delete_repository\"`)
}

// A method spelt another way ("Tools/Call", "tools/call ", a NUL after
// it) is no method Tollgate judges, but a server that reads names loosely
// would run it as one: a tools/call past every rule, a tools/list with
// the hidden tools, a cancellation the gate never saw. None reaches the
// server; a request is answered with an error.
func TestMethodVariantsAreRefused(t *testing.T) {
	const pol = namesPolicy
	state := t.TempDir()
	server, logFile := recordingServer(t)
	p := startTollgate(t, pol, []string{"TOLLGATE_E2E_FAKE=echo", "XDG_STATE_HOME=" + state}, server...)
	for i, method := range []string{"Tools/Call", "TOOLS/CALL", "tools/call ", "tools/call\u0000", "tools/\u200bcall", "Tools/List", "Resources/Read", "Initialize"} {
		m, _ := json.Marshal(method)
		got := p.roundTrip(t, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":%s,"params":{"name":"delete_repository","arguments":{}}}`, i+1, m))
		if !strings.Contains(got, `"code":-32600`) || !strings.Contains(got, "reads as") || !strings.Contains(got, fmt.Sprintf(`"id":%d`, i+1)) {
			t.Errorf("method %q: %s", method, got)
		}
	}
	if _, err := io.WriteString(p.stdin, `{"jsonrpc":"2.0","method":"Notifications/Cancelled","params":{"requestId":1}}`+"\n"); err != nil {
		t.Fatal(err)
	}
	if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":90,"method":"tools/call","params":{"name":"other_tool","arguments":{}}}`); !strings.Contains(got, "ran: other_tool") {
		t.Fatalf("fair call: %s", got)
	}
	mcptest.Eventually(t, 10*time.Second, func() bool {
		data, _ := os.ReadFile(logFile)
		return strings.Contains(string(data), "other_tool")
	}, "the fair call in the server's log")
	data, _ := os.ReadFile(logFile)
	if lines := strings.Split(strings.TrimSpace(string(data)), "\n"); len(lines) != 1 {
		t.Errorf("the server received more than the fair call:\n%s", data)
	}
	waitAudit(t, state, `"decision":"invalid"`, `reads as \"tools/call\"`)
}
