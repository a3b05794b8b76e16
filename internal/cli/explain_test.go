package cli

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite internal/cli/testdata/*.golden")

// checkGolden compares got with testdata/name, rewriting it with
// -update-golden.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *updateGolden {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update-golden)", err)
	}
	if d := cmp.Diff(string(want), got); d != "" {
		t.Errorf("%s (-want +got):\n%s", path, d)
	}
}

func TestExplainGolden(t *testing.T) {
	const demo = "testdata/explain-policy.yaml"
	tests := []struct{ name, tool, args string }{
		{"explain-deny-check", "send_email", `{"to": "bob@elsewhere.org", "subject": "hi"}`},
		{"explain-deny-rule", "send_email", `{"to": "a@example.com,b@example.com"}`},
		{"explain-approval", "create_refund", `{"order": "A1", "amount": 75}`},
		{"explain-allow-charges", "get_weather", `{"city": "Paris"}`},
		{"explain-missing-arg", "read_file", `{}`},
		{"explain-hidden", "delete_repository", `{}`},
		{"explain-unlisted", "drop_database", `{}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, "explain", "-c", demo, "--tool", tc.tool, "--args", tc.args)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			checkGolden(t, tc.name+".golden", out)
		})
	}
}

func TestExplainMonitorAndJSON(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	writeFile(t, p, `version: "1"
mode: monitor
tools:
  pay:
    rules:
      - name: cap
        conditions:
          - {path: args.amount, op: lte, value: 10}
`)
	code, out, _ := run(t, "explain", "-c", p, "--tool", "pay", "--args", `{"amount": 11}`)
	if code != exitOK || !regexp.MustCompile(`decision: deny \(monitor mode: recorded, not enforced`).MatchString(out) {
		t.Errorf("monitor explain: exit %d\n%s", code, out)
	}
	code, out, _ = run(t, "explain", "-c", p, "--tool", "pay", "--args", `{"amount": 11}`, "--json")
	var got struct {
		Decision string `json:"decision"`
		Monitor  bool   `json:"monitor"`
		Rule     string `json:"rule"`
		Steps    []struct {
			Kind  string `json:"kind"`
			Path  string `json:"path"`
			Value string `json:"value"`
			Held  bool   `json:"held"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != exitOK {
		t.Fatalf("--json: exit %d %v\n%s", code, err, out)
	}
	if got.Decision != "deny" || !got.Monitor || got.Rule != "cap" || len(got.Steps) != 2 ||
		got.Steps[1].Path != "args.amount" || got.Steps[1].Value != "11" || got.Steps[1].Held {
		t.Errorf("--json: %+v", got)
	}
}

// explain --request explains a client request by the requests section.
func TestExplainRequest(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	writeFile(t, p, `version: "1"
requests:
  resources/read:
    rules:
      - name: no etc
        action: deny
        conditions: [{path: args.uri, op: path_within, value: /etc}]
`)
	code, out, errs := run(t, "explain", "-c", p, "--request", "resources/read", "--args", `{"uri":"file:///%65tc/passwd"}`)
	for _, want := range []string{"request: resources/read\n", `requests entry "resources/read" matches`, "→ deny rule fires", "decision: deny\nrule:     no etc\n",
		"read as the path of a file: URI (/etc/passwd)"} {
		if code != exitOK || !regexp.MustCompile(regexp.QuoteMeta(want)).MatchString(out) {
			t.Errorf("exit %d, output lacks %q:\n%s%s", code, want, out, errs)
		}
	}
	code, out, _ = run(t, "explain", "-c", p, "--request", "prompts/get", "--args", `{"name":"x"}`)
	if code != exitOK || !regexp.MustCompile(`no requests entry governs prompts/get[^\n]*\n\ndecision: allow`).MatchString(out) {
		t.Errorf("ungoverned: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"--request", "tools/call"}, {"--tool", "x", "--request", "prompts/get"}} {
		if code, _, errs := run(t, append([]string{"explain", "-c", p}, args...)...); code != exitUsage || errs == "" {
			t.Errorf("%v: exit %d, %q", args, code, errs)
		}
	}
}
