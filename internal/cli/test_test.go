package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTestCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"example suites pass", []string{"test", "../../examples/tests/demo.test.yaml"}, exitOK,
			[]string{"19 passed, 0 failed"}},
		{"a directory", []string{"test", "-v", "../../examples/tests"}, exitOK,
			[]string{"ok    ../../examples/tests/demo.test.yaml:5:5  weather lookups are allowed", "19 passed, 0 failed"}},
		{"the failing suite fails", []string{"test", "../policytest/testdata/failing.test.yaml"}, exitFail, []string{
			"FAIL  ../policytest/testdata/failing.test.yaml:11:5  wrong expectation\n" +
				`      expected allow, got deny by rule "workspace only": read_file may only read files under /workspace or /tmp/demo`,
			"FAIL  ../policytest/testdata/failing.test.yaml:16:5  right decision, wrong rule",
			"1 passed, 2 failed",
		}},
		{"both", []string{"test", "../../examples/tests/demo.test.yaml", "../policytest/testdata/failing.test.yaml"}, exitFail,
			[]string{"20 passed, 2 failed"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := run(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, errs)
			}
			for _, c := range tc.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q:\n%s", c, out)
				}
			}
		})
	}
}

func TestTestCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.test.yaml")
	os.WriteFile(bad, []byte("policy: p.yaml\ntests:\n  - name: a\n    tool: t\n    expect: allow\n    argz: {}\n"), 0o600)
	code, out, _ := run(t, "test", bad)
	if code != exitFail || !strings.Contains(out, `bad.test.yaml:6:5: unknown key "argz" in tests[0] (did you mean "args"?)`) ||
		!strings.Contains(out, "1 file(s) could not be run") {
		t.Errorf("strict parse: exit %d\n%s", code, out)
	}
	missingPolicy := filepath.Join(dir, "m.test.yaml")
	os.WriteFile(missingPolicy, []byte("policy: nope.yaml\ntests: [{name: a, tool: t, expect: allow}]\n"), 0o600)
	if code, out, _ := run(t, "test", missingPolicy); code != exitFail || !strings.Contains(out, "nope.yaml") {
		t.Errorf("missing policy: exit %d\n%s", code, out)
	}
	if code, _, errs := run(t, "test", t.TempDir()); code != exitUsage || !strings.Contains(errs, "no test files") {
		t.Errorf("empty dir: exit %d %s", code, errs)
	}
}

func TestOpsCommandsHelp(t *testing.T) {
	for _, args := range [][]string{{"test", "--help"}, {"explain", "--help"}, {"audit", "--help"}, {"audit", "verify", "--help"}, {"status", "--help"}} {
		code, out, errs := run(t, args...)
		if code != exitOK || !strings.Contains(out+errs, "Usage: tollgate "+args[0]) {
			t.Errorf("%v: exit %d\n%s%s", args, code, out, errs)
		}
	}
	if code, out, _ := run(t, "help"); code != exitOK || !strings.Contains(out, "tollgate audit verify") || !strings.Contains(out, "tollgate status") {
		t.Errorf("help does not list the commands:\n%s", out)
	}
}
