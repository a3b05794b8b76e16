package gateway

import (
	"os"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gh.yaml"), []byte("version: \"1\"\nhide: [delete_repo]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GW_TEST_TOKEN", "s3cret")
	c, err := Load(filepath.Join(dir, "gateway.yaml"), []byte(`version: "1"
separator: "."
startup_timeout: 2s
restart: {min_backoff: 10ms, max_backoff: 1s}
state: memory
policy:
  version: "1"
  tools:
    "*":
      rules:
        - name: everything counts
          rate_limit: 100/minute
servers:
  github:
    command: [npx, -y, "@modelcontextprotocol/server-github"]
    env: {GITHUB_TOKEN: "${GW_TEST_TOKEN}"}
    cwd: work
    policy: gh.yaml
    pins: record
  remote:
    url: https://mcp.example.com/mcp
    headers: {Authorization: "Bearer ${GW_TEST_TOKEN}"}
    prefix: rem
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Separator != "." || c.StartupTimeout != 2*time.Second || c.MinBackoff != 10*time.Millisecond || c.MaxBackoff != time.Second || c.State != "memory" || c.Policy == nil {
		t.Errorf("top level: %+v", c)
	}
	if len(c.Servers) != 2 {
		t.Fatalf("servers: %+v", c.Servers)
	}
	gh, rem := c.Servers[0], c.Servers[1]
	if gh.Name != "github" || gh.Prefix != "github" || len(gh.Command) != 3 || gh.Env[0] != "GITHUB_TOKEN=${GW_TEST_TOKEN}" ||
		gh.Dir != filepath.Join(dir, "work") || gh.Pins != "record" || !gh.Policy.Hidden("delete_repo") {
		t.Errorf("github: %+v", gh)
	}
	if rem.Prefix != "rem" || rem.URL != "https://mcp.example.com/mcp" || rem.Header[0] != [2]string{"Authorization", "Bearer ${GW_TEST_TOKEN}"} {
		t.Errorf("remote: %+v", rem)
	}
	if gh.Policy.Revision() == rem.Policy.Revision() {
		t.Errorf("two servers share a policy revision: approvals could cross servers")
	}
}

// Two servers naming the same policy file get different revisions, so an
// approval given on one is never taken for a call on the other.
func TestFlowInlinePolicy(t *testing.T) {
	c, err := Load("g.yaml", []byte("servers:\n  a: {command: [x], policy: {version: \"1\", hide: [secret]}}\n  b: {command: [y]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Servers[0].Policy.Hidden("secret") || c.Servers[1].Policy.Hidden("secret") {
		t.Error("the flow-style inline policy was not applied to its server alone")
	}
}

func TestSharedPolicyFileRevisions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte("version: \"1\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(filepath.Join(dir, "g.yaml"), []byte("servers:\n  a: {command: [x], policy: p.yaml}\n  b: {command: [y], policy: p.yaml}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Servers[0].Policy.Revision() == c.Servers[1].Policy.Revision() {
		t.Error("same revision for two servers")
	}
}

func TestLoadConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "servers:\n  a:\n    comand: [x]\n", []string{`g.yaml:3:5: unknown key "comand" in server a (did you mean "command"?)`}},
		{"unknown top key", "sever: {}\nservers:\n  a: {command: [x]}\n", []string{`g.yaml:1:1: unknown key "sever" in the gateway file (did you mean "servers"?)`}},
		{"no servers", "separator: _\n", []string{"names no servers"}},
		{"both", "servers:\n  a: {command: [x], url: http://h/mcp}\n", []string{"either command or url, not both"}},
		{"neither", "servers:\n  a: {prefix: b}\n", []string{"needs a command"}},
		{"command string", "servers:\n  a: {command: x}\n", []string{"command must be a non-empty list"}},
		{"bad url", "servers:\n  a: {url: ftp://h}\n", []string{"url must start with http:// or https://"}},
		{"env on url", "servers:\n  a: {url: http://h/mcp, env: {A: b}}\n", []string{"env only applies to a command server"}},
		{"same prefix", "servers:\n  a: {command: [x]}\n  b: {command: [y], prefix: a}\n", []string{`servers "a" and "b" collide`}},
		{"prefix of another", "servers:\n  a: {command: [x]}\n  a__b: {command: [y]}\n", []string{`servers "a" and "a__b" collide`, `its prefix "a__b" contains the separator`}},
		{"separator in name", "separator: _\nservers:\n  my_server: {command: [x]}\n", []string{`contains the separator "_"`}},
		{"bad pins", "servers:\n  a: {command: [x], pins: always}\n", []string{"pins must be off, record or enforce"}},
		{"bad duration", "startup_timeout: soon\nservers:\n  a: {command: [x]}\n", []string{"startup_timeout must be a positive duration"}},
		{"missing policy file", "servers:\n  a: {command: [x], policy: nope.yaml}\n", []string{"nope.yaml"}},
		{"inline policy problem at its line", "servers:\n  a:\n    command: [x]\n    policy:\n      version: \"1\"\n      tools:\n        t:\n          rules:\n            - name: r\n              acton: deny\n", []string{`g.yaml:10:15: unknown key "acton"`}},
		{"flow inline policy problem", "servers:\n  a: {command: [x], policy: {version: \"1\", tols: {}}}\n", []string{`(servers.a.policy):1:`, `unknown key "tols"`}},
		{"two unprefixed", "servers:\n  a: {command: [x], prefix: \"\"}\n  b: {command: [y], prefix: \"\"}\n", []string{`servers "a" and "b" both have prefix ""`}},
		{"duplicate server", "servers:\n  a: {command: [x]}\n  a: {command: [y]}\n", []string{`duplicate server "a"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(filepath.Join(t.TempDir(), "g.yaml"), []byte(tc.src))
			if err == nil {
				t.Fatal("loaded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestCursor(t *testing.T) {
	g, err := New([]*Server{{Name: "a", Gate: allowAll(t), Dial: NoUpstream}, {Name: "b", Gate: allowAll(t), Dial: NoUpstream}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := g.sealCursor("tools/list", map[string]string{"a": "page2"})
	got, err := g.openCursor("tools/list", c)
	if err != nil || got["a"] != "page2" || len(got) != 1 {
		t.Fatalf("round trip: %v %v", got, err)
	}
	other, _ := New(g.servers, Options{})
	for name, bad := range map[string]string{
		"other method":  "prompts/list",
		"tampered":      "",
		"other gateway": "",
		"no signature":  "",
	} {
		var err error
		switch name {
		case "other method":
			_, err = g.openCursor(bad, c)
		case "tampered":
			_, err = g.openCursor("tools/list", strings.Replace(c, c[:4], "eyJz", 1))
		case "other gateway":
			_, err = other.openCursor("tools/list", c)
		case "no signature":
			_, err = g.openCursor("tools/list", c[:strings.IndexByte(c, '.')])
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A cursor naming a server the gateway does not have, even signed.
	if _, err := g.openCursor("tools/list", g.sealCursor("tools/list", map[string]string{"zz": "x"})); err == nil {
		t.Error("a cursor for an unknown server was accepted")
	}
}

func TestTemplateMatch(t *testing.T) {
	for _, tc := range []struct {
		tmpl, uri string
		want      bool
	}{
		{"demo://resource/{id}", "demo://resource/42", true},
		{"demo://resource/{id}", "demo://other/42", false},
		{"file:///{path}/x{n}.txt", "file:///a/b/x1.txt", true},
		{"file:///{path}/x{n}.txt", "file:///a/b/y1.txt", false},
		{"plain://uri", "plain://uri", true},
		{"plain://uri", "plain://uri2", false},
	} {
		if got := newTemplate(nil, tc.tmpl).match(tc.uri); got != tc.want {
			t.Errorf("%s ~ %s = %v", tc.tmpl, tc.uri, got)
		}
	}
}

func TestBackoff(t *testing.T) {
	g := &Gateway{opts: Options{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}}
	var got []time.Duration
	for n := range 6 {
		got = append(got, g.Backoff(n))
	}
	want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff %v, want %v", got, want)
		}
	}
}

func allowAll(t testing.TB) *gate.Gate {
	t.Helper()
	p, err := policy.Load("allow.yaml", []byte("version: \"1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return gate.New(p)
}
