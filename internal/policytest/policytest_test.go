package policytest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

func run(t *testing.T, path string) []Result {
	t.Helper()
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestExampleSuitePasses(t *testing.T) {
	files, _ := filepath.Glob("../../examples/tests/*.test.yaml")
	if len(files) == 0 {
		t.Fatal("no example suites in examples/tests")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			res := run(t, f)
			if len(res) < 10 {
				t.Errorf("only %d tests", len(res))
			}
			for _, r := range res {
				if !r.Passed {
					t.Errorf("%s: %s", r.Test.Name, r.Msg)
				}
			}
		})
	}
}

func TestFailingSuiteFails(t *testing.T) {
	res := run(t, "testdata/failing.test.yaml")
	var got []string
	for _, r := range res {
		got = append(got, r.Test.Name+": "+r.Msg)
	}
	want := []string{
		"passes: ",
		`wrong expectation: expected allow, got deny by rule "workspace only": read_file may only read files under /workspace or /tmp/demo`,
		`right decision, wrong rule: expected deny by rule "daily refund budget", got deny by rule "refund cap": Refunds over 100.00 need a human`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
}

func writeSuite(t *testing.T, policySrc, suite string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(policySrc), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.test.yaml")
	if err := os.WriteFile(path, []byte(suite), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestStrictParsing(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown keys", `policy: p.yaml
tests:
  - name: a
    tool: t
    expct: allow
    befor: []
`, []string{
			`s.test.yaml:3:5: tests[0]: expect is required`,
			`s.test.yaml:5:5: unknown key "expct" in tests[0] (did you mean "expect"?)`,
			`s.test.yaml:6:5: unknown key "befor" in tests[0] (did you mean "before"?)`,
		}},
		{"bad values", `policy: p.yaml
polcy: x
tests:
  - name: a
    tool: 3
    args: [1]
    expect: permit
  - name: b
    tool: t
    expect: allow
    before: [{tool: t, arg: {}}]
`, []string{
			`s.test.yaml:2:1: unknown key "polcy" in the test file (did you mean "policy"?)`,
			`s.test.yaml:5:11: tests[0].tool must be a string, got a number`,
			`s.test.yaml:6:11: tests[0].args must be a mapping, got a list`,
			`s.test.yaml:7:13: tests[0].expect must be allow, deny or approval_required, not "permit"`,
			`s.test.yaml:11:24: unknown key "arg" in tests[1].before[0] (did you mean "args"?)`,
		}},
		{"duplicates", `policy: p.yaml
tests:
  - name: a
    tool: t
    tool: u
    expect: allow
    args: {x: 1, x: 2}
  - {name: a, tool: t, expect: deny}
`, []string{
			`s.test.yaml:5:5: duplicate key "tool" in tests[0]`,
			`s.test.yaml:7:18: tests[0].args: duplicate key "x"`,
			`s.test.yaml:8:5: tests[1]: duplicate test name "a"`,
		}},
		{"missing", `tests: []`, []string{
			`s.test.yaml:1:1: the test file: policy is required`,
			`s.test.yaml:1:8: tests is empty`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("s.test.yaml", []byte(tc.src))
			var le *policy.LoadError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *policy.LoadError", err)
			}
			var got []string
			for _, p := range le.Problems {
				got = append(got, p.String())
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
		})
	}
}

func TestArgsKeepNumbersExact(t *testing.T) {
	s, err := Parse("s.yaml", []byte(`policy: p.yaml
tests:
  - name: a
    tool: t
    args: {amount: 100.10, big: 12345678901234567890123, n: 0x1F, s: "5", b: true, z: null, list: [1, {k: v}]}
    expect: allow
`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"amount":100.10,"big":12345678901234567890123,"n":31,"s":"5","b":true,"z":null,"list":[1,{"k":"v"}]}`
	if got := string(s.Tests[0].Call.Args); got != want {
		t.Errorf("args = %s, want %s", got, want)
	}
}

const statefulPolicy = `version: "1"
mode: enforce
tools:
  pay:
    rules:
      - name: spend cap
        per: identity
        conditions:
          - path: state.pay.spent
            op: lte
            value: 100
        state:
          counter: spent
          window: day
          increment_from: args.amount
  probe:
    rules:
      - name: watched
        mode: monitor
        action: deny
`

func TestStatefulAndMonitor(t *testing.T) {
	path := writeSuite(t, statefulPolicy, `policy: p.yaml
tests:
  - name: under the cap
    tool: pay
    args: {amount: 60}
    identity: alice
    before: [{tool: pay, args: {amount: 40}}]
    expect: allow
  - name: over the cap
    tool: pay
    args: {amount: 61}
    identity: alice
    before: [{tool: pay, args: {amount: 40}}]
    expect: deny
    rule: spend cap
  - name: caps are per identity
    tool: pay
    args: {amount: 61}
    identity: bob
    before: [{tool: pay, args: {amount: 40}, identity: alice}]
    expect: allow
  - name: each test starts from zero
    tool: pay
    args: {amount: 100}
    identity: alice
    expect: allow
  - name: monitor rules let the call through
    tool: probe
    expect: allow
    rule: watched
`)
	for _, r := range run(t, path) {
		if !r.Passed {
			t.Errorf("%s: %s", r.Test.Name, r.Msg)
		}
		if r.Test.Name == "monitor rules let the call through" && !r.Got.WouldDeny {
			t.Errorf("monitor decision not marked: %+v", r.Got)
		}
	}
}

func TestPolicyErrors(t *testing.T) {
	path := writeSuite(t, "version: \"2\"\n", "policy: p.yaml\ntests: [{name: a, tool: t, expect: allow}]\n")
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "p.yaml:1:10: unsupported version") {
		t.Errorf("Run = %v, want the policy's problems", err)
	}
}

// A test may judge a client request (resources/read, prompts/get, …) by
// the policy's requests section, its args being the request's params.
func TestRequests(t *testing.T) {
	path := writeSuite(t, `version: "1"
requests:
  resources/read:
    rules:
      - name: no etc
        action: deny
        conditions: [{path: args.uri, op: path_within, value: /etc}]
      - name: watched
        mode: monitor
        action: deny
        conditions: [{path: args.uri, op: starts_with, value: "file:///tmp"}]
      - name: reads
        rate_limit: 2/minute
        per: session
`, `policy: p.yaml
tests:
  - name: a system file
    request: resources/read
    args: {uri: "file:///etc/shadow"}
    expect: deny
    rule: no etc
  - name: a note
    request: resources/read
    args: {uri: "file:///home/me/notes"}
    expect: allow
  - name: monitored
    request: resources/read
    args: {uri: "file:///tmp/x"}
    expect: allow
    rule: watched
  - name: ungoverned
    request: prompts/get
    args: {name: anything}
    expect: allow
  - name: wrong on purpose
    request: resources/read
    args: {uri: "file:///etc/x"}
    expect: allow
  - name: the third read in a minute
    request: resources/read
    args: {uri: "file:///home/me/c"}
    before:
      - {request: resources/read, args: {uri: "file:///home/me/a"}}
      - {request: resources/read, args: {uri: "file:///home/me/b"}}
    expect: deny
    rule: reads
`)
	var failed []string
	for _, r := range run(t, path) {
		if !r.Passed {
			failed = append(failed, r.Test.Name+": "+r.Msg)
		}
	}
	want := []string{`wrong on purpose: expected allow, got deny by rule "no etc": denied by rule "no etc" (args.uri = "file:///etc/x" read as the path of a file: URI (/etc/x), as a server that opens it reads it)`}
	if d := cmp.Diff(want, failed); d != "" {
		t.Errorf("failures (-want +got):\n%s", d)
	}

	_, err := Parse("s.test.yaml", []byte(`policy: p.yaml
tests:
  - {name: a, tool: t, request: prompts/get, expect: allow}
  - {name: b, request: resources/reed, expect: allow}
  - {name: c, request: prompts/get, expect: allow, before: [{args: {}}]}
  - {name: d, expect: allow}
`))
	var le *policy.LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	var got []string
	for _, p := range le.Problems {
		got = append(got, p.String())
	}
	wantProbs := []string{
		`s.test.yaml:3:33: tests[0]: give tool (a tool call) or request (a client request), not both`,
		`s.test.yaml:4:24: tests[1].request must be one of resources/read, prompts/get, resources/subscribe, completion/complete, not "resources/reed" (did you mean "resources/read"?)`,
		`s.test.yaml:5:61: tests[2].before[0]: tool is required (or request, for a client request)`,
		`s.test.yaml:6:5: tests[3]: tool is required (or request, for a client request)`,
	}
	if d := cmp.Diff(wantProbs, got); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
}
