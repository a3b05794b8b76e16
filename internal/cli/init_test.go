package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/scan"
)

const plantedSecret = "planted-SECRET-7f3a9"

// initHome is a temp $HOME with Tollgate's directories under it, set for
// the in-process command.
func initHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	return home
}

func runIn(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A Claude Desktop file naming a real server, a server that cannot start,
// and (in Cursor's file) a remote one with a secret header: secrets are
// planted in env, a header and an argument.
func initConfigs(t *testing.T, home string) (desktop, cursor string) {
	t.Helper()
	server := mcptest.Peer(t, "everything-server")
	desktop = filepath.Join(home, ".config", "Claude", "claude_desktop_config.json")
	writeInitFile(t, desktop, `{
  "mcpServers": {
    "everything": {
      "command": "`+server+`",
      "env": {"API_TOKEN": "`+plantedSecret+`"}
    },
    "broken": {"command": "/nonexistent/server", "args": ["--api-key", "`+plantedSecret+`"]}
  },
  "globalShortcut": "Ctrl+Space"
}
`)
	cursor = filepath.Join(home, ".cursor", "mcp.json")
	writeInitFile(t, cursor, `{"mcpServers": {"remote": {"url": "http://127.0.0.1:1/mcp", "headers": {"Authorization": "Bearer `+plantedSecret+`"}}}}`)
	return desktop, cursor
}

// A secret in the config reaches the rewritten file only where it already
// was (env) or where the header moved (env): never the output, a policy,
// the args of a bridged entry or a backup's name.
func TestInitSecretNotLeaked(t *testing.T) {
	home := initHome(t)
	desktop, cursor := initConfigs(t, home)
	code, out, errs := runIn(t, "", "init", "--yes", "--tollgate", "/opt/bin/tollgate", "--timeout", "20s")
	if code != exitOK {
		t.Fatalf("init: exit %d\n%s%s", code, out, errs)
	}
	if strings.Contains(out+errs, plantedSecret) {
		t.Errorf("the secret was printed:\n%s%s", out, errs)
	}
	policies := filepath.Join(home, ".config", "tollgate", "policies")
	n := 0
	err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(path, plantedSecret) {
			t.Errorf("the secret is in a file name: %s", path)
		}
		if strings.HasPrefix(path, policies) && !d.IsDir() {
			n++
			if strings.Contains(readString(t, path), plantedSecret) {
				t.Errorf("the secret is in policy %s", path)
			}
			if _, err := policy.LoadFile(path); err != nil {
				t.Errorf("policy %s does not load: %v", path, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d policies written, want 3", n)
	}
	checkPrivate(t, policies)
	checkPrivate(t, filepath.Join(home, ".local", "state", "tollgate", "init"))

	var c struct {
		MCPServers map[string]struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		} `json:"mcpServers"`
	}
	if err := json.Unmarshal([]byte(readString(t, cursor)), &c); err != nil {
		t.Fatal(err)
	}
	r := c.MCPServers["remote"]
	if r.Command != "/opt/bin/tollgate" || strings.Contains(strings.Join(r.Args, " "), plantedSecret) ||
		r.Env["TOLLGATE_HEADER_AUTHORIZATION"] != "Bearer "+plantedSecret {
		t.Errorf("bridged entry: %+v", r)
	}
	if !strings.Contains(out, "NOT SCANNED") || !strings.Contains(readString(t, desktop), `"globalShortcut": "Ctrl+Space"`) {
		t.Errorf("the unscannable server was not reported, or other keys were lost:\n%s", out)
	}
}

// Twice is once: the second run changes no byte and writes no policy; undo
// then restores both files byte for byte, and refuses a file edited since.
func TestInitIdempotentAndUndo(t *testing.T) {
	home := initHome(t)
	desktop, cursor := initConfigs(t, home)
	origDesktop, origCursor := readString(t, desktop), readString(t, cursor)

	if code, out, errs := runIn(t, "", "init", "--dry-run", "--tollgate", "/opt/bin/tollgate"); code != exitOK ||
		readString(t, desktop) != origDesktop || !strings.Contains(out, "Dry run") {
		t.Fatalf("dry run: exit %d or a file changed\n%s%s", code, out, errs)
	}
	if _, err := os.Stat(filepath.Join(home, ".config", "tollgate")); !os.IsNotExist(err) {
		t.Errorf("dry run wrote policies: %v", err)
	}
	if code, out, _ := runIn(t, "n\n", "init", "--tollgate", "/opt/bin/tollgate"); code != exitFail || readString(t, desktop) != origDesktop {
		t.Fatalf("answering no: exit %d\n%s", code, out)
	}

	if code, out, errs := runIn(t, "y\n", "init", "--tollgate", "/opt/bin/tollgate"); code != exitOK {
		t.Fatalf("init: exit %d\n%s%s", code, out, errs)
	}
	once := readString(t, desktop)
	if once == origDesktop || readString(t, cursor) == origCursor {
		t.Fatal("init changed nothing")
	}
	code, out, errs := runIn(t, "", "init", "--yes", "--tollgate", "/opt/bin/tollgate")
	if code != exitOK || readString(t, desktop) != once || !strings.Contains(out, "Nothing to do") {
		t.Fatalf("second init: exit %d, changed %v\n%s%s", code, readString(t, desktop) != once, out, errs)
	}

	// Edited since: refused, nothing restored for it.
	edited := once + "\n"
	writeInitFile(t, desktop, edited)
	code, _, errs = runIn(t, "", "init", "--undo")
	if code != exitFail || !strings.Contains(errs, "--force") || readString(t, desktop) != edited {
		t.Errorf("undo over an edited file: exit %d\n%s", code, errs)
	}
	if readString(t, cursor) != origCursor {
		t.Error("the unedited file was not restored")
	}
	if code, out, errs := runIn(t, "", "init", "--undo", "--force"); code != exitOK || readString(t, desktop) != origDesktop {
		t.Errorf("undo --force: exit %d\n%s%s", code, out, errs)
	}
	if code, out, _ := runIn(t, "", "init", "--undo"); code != exitOK || !strings.Contains(out, "Nothing to undo") {
		t.Errorf("undo with nothing to undo: exit %d\n%s", code, out)
	}
}

func TestInitUsage(t *testing.T) {
	initHome(t)
	if code, _, errs := runIn(t, "", "init", "--help"); code != exitOK || !strings.Contains(errs, "--undo") || !strings.Contains(errs, "docs/init.md") {
		t.Errorf("--help: exit %d\n%s", code, errs)
	}
	if code, _, errs := runIn(t, "", "init", "--client", "emacs"); code != exitUsage || !strings.Contains(errs, "claude-desktop") {
		t.Errorf("--client emacs: exit %d\n%s", code, errs)
	}
	if code, out, _ := runIn(t, "", "init", "--tollgate", "/t"); code != exitOK || !strings.Contains(out, "No MCP client configuration found") {
		t.Errorf("empty home: exit %d\n%s", code, out)
	}
	// A policy that exists is used, not overwritten.
	home := initHome(t)
	cfg := filepath.Join(home, "x", "mcp.json")
	writeInitFile(t, cfg, `{"mcpServers": {"s": {"command": "/nonexistent/s"}}}`)
	pol := filepath.Join(home, ".config", "tollgate", "policies", "cursor-s.yaml")
	writeInitFile(t, pol, "version: \"1\"\ndefault: deny\ntools: {}\n")
	if code, out, errs := runIn(t, "", "init", "--yes", "--config", cfg, "--client", "cursor", "--tollgate", "/opt/tollgate"); code != exitOK ||
		readString(t, pol) != "version: \"1\"\ndefault: deny\ntools: {}\n" || !strings.Contains(readString(t, cfg), pol) {
		t.Errorf("existing policy: exit %d\n%s%s%s", code, out, errs, readString(t, cfg))
	}
}

// From zero to guarded through the binary: init --yes on a Claude Desktop
// config naming the Go SDK's everything-server writes a policy that holds
// for approval exactly the tools scan calls Destructive or Financial; the
// rewritten entry, started as the client would, serves the Go SDK client,
// and its calls are decided by that policy and audited.
func TestInitEndToEnd(t *testing.T) {
	tg := mcptest.Tollgate(t)
	server := mcptest.Peer(t, "everything-server")
	home := t.TempDir()
	cfg := filepath.Join(home, ".config", "Claude", "claude_desktop_config.json")
	writeInitFile(t, cfg, "{\n  // Claude Desktop keeps other settings here too\n  \"mcpServers\": {\n    \"everything\": {\"command\": \""+server+"\", \"env\": {\"E2E\": \"1\"}}\n  }\n}\n")
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=", "XDG_STATE_HOME="}
	out := tollgateOut(t, env, "", "init", "--yes")
	if !strings.Contains(out, "updated "+cfg) {
		t.Fatalf("init --yes:\n%s", out)
	}

	// The policy, against scan's own classification of the same server.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	inv, err := scan.FetchStdio(ctx, []string{server}, nil, scan.Options{ClientName: "test", ClientVersion: "1"})
	if err != nil {
		t.Fatal(err)
	}
	polPath := filepath.Join(home, ".config", "tollgate", "policies", "claude-desktop-everything.yaml")
	pol, err := policy.LoadFile(polPath)
	if err != nil {
		t.Fatal(err)
	}
	text := readString(t, polPath)
	for _, a := range scan.Analyze(inv).Tools {
		held := strings.Contains(text, yamlQuote(a.Name)+":\n    rules:\n      - name: "+yamlQuote("approve "+a.Name)+"\n        action: require_approval\n")
		if want := a.Category == scan.Destructive || a.Category == scan.Financial; held != want {
			t.Errorf("tool %s (%s): held for approval %v, want %v", a.Name, a.Category, held, want)
		}
	}
	if pol == nil {
		t.Fatal("no policy")
	}

	// Start what the client would start, from the rewritten file.
	var c struct {
		MCPServers map[string]struct {
			Command string            `json:"command"`
			Args    []string          `json:"args"`
			Env     map[string]string `json:"env"`
		} `json:"mcpServers"`
	}
	b := readString(t, cfg)
	if !strings.HasPrefix(b, "{\n  // Claude Desktop keeps other settings here too\n") {
		t.Errorf("the comment was lost:\n%s", b)
	}
	root := strings.Replace(b, "  // Claude Desktop keeps other settings here too\n", "", 1)
	if err := json.Unmarshal([]byte(root), &c); err != nil {
		t.Fatal(err)
	}
	entry := c.MCPServers["everything"]
	if entry.Command != tg || entry.Env["E2E"] != "1" {
		t.Fatalf("entry: %+v", entry)
	}
	cmd := exec.Command(entry.Command, entry.Args...)
	cmd.Env = append(os.Environ(), "E2E=1", "HOME="+home, "XDG_STATE_HOME=")
	client := mcp.NewClient(&mcp.Implementation{Name: "init-e2e", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect to the rewritten entry: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
	cs.Close()
	recs := auditRecords(t, filepath.Join(home, ".local", "state", "tollgate", "audit"))
	if findCall(recs, "test_simple_text", "allow", false) == nil {
		t.Errorf("no audited allow decision for test_simple_text in %d records", len(recs))
	}
}

func writeInitFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The policy in docs/init.md is the shape init writes, and loads.
func TestInitDocsPolicyLoads(t *testing.T) {
	doc := readString(t, "../../docs/init.md")
	_, rest, ok := strings.Cut(doc, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no yaml block in docs/init.md")
	}
	if _, err := policy.Load("docs/init.md", []byte(block)); err != nil {
		t.Errorf("docs/init.md policy: %v", err)
	}
	for _, want := range []string{"require_approval", "rate_limit: {max: 30, window: 60}"} {
		if !strings.Contains(block, want) {
			t.Errorf("docs/init.md policy lacks %q", want)
		}
	}
}

// A server's name cannot steer its policy out of the directory, and two
// names that look alike never share a file.
func TestInitPolicyFileName(t *testing.T) {
	seen := map[string]string{}
	for _, name := range []string{"github", "../../.bashrc", "GitHub", "git hub", "", ".", "a/b", "github\x00"} {
		got := policyFileName("cursor", name, "")
		if strings.ContainsAny(got, "/\\\x00") || strings.HasPrefix(got, ".") || !strings.HasPrefix(got, "cursor-") || !strings.HasSuffix(got, ".yaml") {
			t.Errorf("policyFileName(%q) = %q", name, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("%q and %q share %s", prev, name, got)
		}
		seen[got] = name
	}
	if a, b := policyFileName("claude-code", "db", "/p1"), policyFileName("claude-code", "db", "/p2"); a == b {
		t.Errorf("two projects' db share %s", a)
	}
}
