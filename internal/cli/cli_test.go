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
