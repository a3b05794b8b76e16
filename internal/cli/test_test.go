package cli

import (
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
			[]string{"21 passed, 0 failed"}},
		{"a directory", []string{"test", "-v", "../../examples/tests"}, exitOK,
			[]string{"ok    ../../examples/tests/demo.test.yaml:5:5  weather lookups are allowed", "21 passed, 0 failed"}},
		{"the failing suite fails", []string{"test", "../policytest/testdata/failing.test.yaml"}, exitFail, []string{
			"FAIL  ../policytest/testdata/failing.test.yaml:11:5  wrong expectation\n" +
				`      expected allow, got deny by rule "workspace only": read_file may only read files under /workspace or /tmp/demo`,
			"FAIL  ../policytest/testdata/failing.test.yaml:16:5  right decision, wrong rule",
			"1 passed, 2 failed",
		}},
		{"both", []string{"test", "../../examples/tests/demo.test.yaml", "../policytest/testdata/failing.test.yaml"}, exitFail,
			[]string{"22 passed, 2 failed"}},
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
