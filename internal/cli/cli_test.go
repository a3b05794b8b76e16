package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpOnEveryCommand(t *testing.T) {
	for _, cmd := range []string{"run", "validate", "scan", "demo"} {
		code, out, errs := run(t, cmd, "--help")
		if code != 0 || !strings.Contains(out+errs, "tollgate "+cmd) || !strings.Contains(out+errs, "Usage") {
			t.Errorf("%s --help: exit %d\n%s%s", cmd, code, out, errs)
		}
	}
	if code, out, _ := run(t, "help"); code != 0 || !strings.Contains(out, "tollgate run -c policy.yaml") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	if code, _, errs := run(t, "frobnicate"); code != exitUsage || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d\n%s", code, errs)
	}
	if code, out, _ := run(t, "version"); code != 0 || !strings.HasPrefix(out, "tollgate v") {
		t.Errorf("version: exit %d %q", code, out)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(good, []byte("version: \"1\"\ntools:\n  a:\n    rules: []\n"), 0o600)
	os.WriteFile(bad, []byte("version: \"1\"\ntools:\n  a:\n    rules:\n      - name: x\n        condtions: []\n      - name: y\n        conditions:\n          - path: args.a\n            op: between\n            value: 1\n"), 0o600)

	code, out, _ := run(t, "validate", "-c", good)
	if code != 0 || out != "policy is valid\n" {
		t.Errorf("good policy: exit %d %q", code, out)
	}
	code, out, _ = run(t, "validate", "-c", bad)
	if code != exitFail {
		t.Errorf("bad policy: exit %d, want 1", code)
	}
	for _, want := range []string{bad + ":6:9:", `did you mean "conditions"`, bad + ":10:17:", "between", "2 problem(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	if code, _, errs := run(t, "validate"); code != exitUsage || !strings.Contains(errs, "no policy file") {
		t.Errorf("validate without a file: exit %d %s", code, errs)
	}
	if code, out, _ := run(t, "validate", "-c", filepath.Join(dir, "missing.yaml")); code != exitFail || !strings.Contains(out, "no such file") {
		t.Errorf("missing file: exit %d %s", code, out)
	}
}

func TestRunUsageErrors(t *testing.T) {
	if code, _, errs := run(t, "run", "--", "true"); code != exitUsage || !strings.Contains(errs, "policy file is required") {
		t.Errorf("no policy: exit %d %s", code, errs)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte("version: \"1\"\n"), 0o600)
	if code, _, errs := run(t, "run", "-c", p); code != exitUsage || !strings.Contains(errs, "no server command") {
		t.Errorf("no command: exit %d %s", code, errs)
	}
	if code, _, errs := run(t, "run", "-c", p, "--", filepath.Join(dir, "no-such-server")); code != exitFail || !strings.Contains(errs, "start server") {
		t.Errorf("missing server binary: exit %d %s", code, errs)
	}
	if code, _, errs := run(t, "run", "-c", p, "--state-fail-mode", "maybe", "--", "true"); code != exitFail && code != exitUsage || !strings.Contains(errs, "state-fail-mode") {
		t.Errorf("bad fail mode: exit %d %s", code, errs)
	}
}
