package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/audit"
	"github.com/tollgate-mcp/tollgate/internal/event"
)

// writeAudit writes a small audit trail with rotation and returns its
// directory.
func writeAudit(t *testing.T, calls int, maxSize int64) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := audit.Open(audit.Options{Dir: dir, MaxSize: maxSize, Instance: "inst-a", Buffer: calls + 8})
	if err != nil {
		t.Fatal(err)
	}
	l.Start(audit.StartInfo{Policy: "p.yaml", Mode: "enforce"})
	now := time.Now()
	for i := range calls {
		l.Record(event.Event{Time: now, Tool: "t", Decision: "allow", Outcome: "ok", Args: []byte(`{"i":1}`)})
		_ = i
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestAuditVerifyCommand(t *testing.T) {
	dir := writeAudit(t, 20, 1500)
	code, out, errs := run(t, "audit", "verify", dir)
	if code != exitOK || !strings.HasPrefix(out, "ok: 22 lines (tollgate-0: ") || !strings.Contains(out, "ended with a clean stop") {
		t.Errorf("intact: exit %d\n%s%s", code, out, errs)
	}
	files, _ := audit.ListFiles(dir)
	if len(files) < 2 {
		t.Fatalf("want rotation, got %d file(s)", len(files))
	}
	// The files of a chain may be given in any order.
	code, out, _ = run(t, "audit", "verify", files[1].Path, files[0].Path)
	if code != exitOK || !strings.HasPrefix(out, "ok: ") {
		t.Errorf("two files: exit %d\n%s", code, out)
	}
	// Delete the second line of the first file.
	data, _ := os.ReadFile(files[0].Path)
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(files[0].Path, []byte(lines[0]+strings.Join(lines[2:], "")), 0o600)
	code, out, _ = run(t, "audit", "verify", dir)
	want := files[0].Path + ":2: expected seq 2, found seq 3: 1 line(s) were removed before this line"
	if code != exitFail || !strings.Contains(out, want) || !strings.Contains(out, "FAILED: ") {
		t.Errorf("tampered: exit %d\n%s\nwant %s", code, out, want)
	}
}
