package cli

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/gateway"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// A gateway's policy files are watched as tollgate run's is: a server's
// file changed to deny a tool denies that server's next call, and not the
// other server's (whose policy is inline in the gateway file); an invalid
// version leaves the one in force; the gateway-wide policy file too. Each
// attempt is a reload line of the gateway's audit trail.
func TestGatewayPolicyFilesReload(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) { t.Helper(); writeRenamed(t, dir, name, src) }
	const allow = "version: \"1\"\ntools: {}\n"
	const deny = "version: \"1\"\ntools:\n  echo:\n    rules:\n      - name: not now\n        action: deny\n"
	write("a.yaml", allow)
	write("hub.yaml", allow)
	write("gateway.yaml", `version: "1"
policy: hub.yaml
servers:
  a:
    command: ["true"]
    policy: a.yaml
  b:
    command: ["true"]
    policy:
      version: "1"
      tools: {}
`)
	cfg, err := gateway.LoadFile(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PolicyPath == "" || cfg.Servers[0].PolicyPath == "" || cfg.Servers[1].PolicyPath != "" {
		t.Fatalf("policy paths: gateway-wide %q, a %q, b %q; want the two files and no path for the inline one",
			cfg.PolicyPath, cfg.Servers[0].PolicyPath, cfg.Servers[1].PolicyPath)
	}
	auditDir := filepath.Join(dir, "audit")
	hub, gates, cleanup, err := buildGatewayGates(context.Background(), gateFlags(t, "--state", "memory", "--audit", auditDir), cfg.Policy,
		[]string{"a", "b"}, []*policy.Policy{cfg.Servers[0].Policy, cfg.Servers[1].Policy}, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	stop, err := watchGatewayPolicies(context.Background(), cfg, hub, gates, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	s := &transport.Session{ID: "s"}
	allowed := func(g *gate.Gate, tool string) bool {
		r := g.Judge(context.Background(), &proxy.Call{Session: s, ID: []byte(`1`), Tool: tool, Args: []byte(`{}`)})
		if r.Ticket != nil {
			r.Ticket.Done(proxy.End{Result: []byte(`{"content":[]}`)})
			return true
		}
		return false
	}
	eventually := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); {
			if time.Now().After(deadline) {
				t.Fatalf("never: %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !allowed(gates[0], "echo") || !allowed(gates[1], "echo") {
		t.Fatal("echo denied before any change")
	}
	write("a.yaml", deny)
	eventually("server a's echo denied after its policy file denied it", func() bool { return !allowed(gates[0], "echo") })
	if !allowed(gates[1], "echo") {
		t.Error("server b's echo denied by server a's policy file")
	}
	// Counters and revisions stay the server's: the policy in force is
	// the file with the server's tag, as at start.
	if want := loadTagged(t, filepath.Join(dir, "a.yaml"), "a").Revision(); gates[0].Policy().Revision() != want {
		t.Errorf("reloaded revision %s, want the tagged file's %s", gates[0].Policy().Revision(), want)
	}

	write("a.yaml", "version: \"1\"\ntools:\n  echo:\n    rulez: []\n")
	time.Sleep(300 * time.Millisecond)
	if allowed(gates[0], "echo") {
		t.Error("an invalid policy file replaced the one in force")
	}

	write("hub.yaml", "version: \"1\"\ntools:\n  a__echo:\n    rules:\n      - name: not now\n        action: deny\n")
	eventually("the gateway-wide policy file's change in force", func() bool { return !allowed(hub, "a__echo") })

	a, h := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "hub.yaml")
	eventually("every reload in the audit trail", func() bool {
		trail := readAudit(t, auditDir)
		return strings.Contains(trail, `"result":"ok","file":`+strconv.Quote(a)) &&
			strings.Contains(trail, `"result":"invalid","file":`+strconv.Quote(a)) &&
			strings.Contains(trail, `"result":"ok","file":`+strconv.Quote(h))
	})
}

func loadTagged(t *testing.T, path, server string) *policy.Policy {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(path, append(data, gateway.PolicyTag(server)...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A gateway without an audit trail rejects a reload of a server's policy
// file to one with audit.required, and keeps the policy in force.
func TestGatewayReloadToAuditRequiredRejected(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) { t.Helper(); writeRenamed(t, dir, name, src) }
	write("a.yaml", "version: \"1\"\n")
	write("gateway.yaml", "version: \"1\"\nservers:\n  a:\n    command: [\"true\"]\n    policy: a.yaml\n")
	cfg, err := gateway.LoadFile(filepath.Join(dir, "gateway.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	hub, gates, cleanup, err := buildGatewayGates(context.Background(), gateFlags(t, "--state", "memory"), loadPolicy(t, "version: \"1\"\n"),
		[]string{"a"}, []*policy.Policy{cfg.Servers[0].Policy}, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var logs strings.Builder
	logged := func() string { stderrMu <- struct{}{}; defer func() { <-stderrMu }(); return logs.String() }
	stop, err := watchGatewayPolicies(context.Background(), cfg, hub, gates, slog.New(slog.NewTextHandler(syncWriter{&logs}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	write("a.yaml", "version: \"1\"\naudit:\n  required: true\n")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logged(), "audit.required") {
		if time.Now().After(deadline) {
			t.Fatalf("the reload was not rejected:\n%s", logged())
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := gates[0].Judge(context.Background(), &proxy.Call{Session: &transport.Session{ID: "s"}, ID: []byte("1"), Tool: "echo", Args: []byte(`{}`)})
	if r.Answer != nil {
		t.Errorf("after the rejected reload a call was refused: %s", r.Answer)
	}
}

// writeRenamed writes dir/name whole under another name and renames it, as
// editors do: a watcher never reads half a file.
func writeRenamed(t *testing.T, dir, name, src string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}
