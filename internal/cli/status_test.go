package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/audit"
	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// statusFixture writes the audit trail of two instances: a stopped one
// with denials, monitored would-denials and a failed reload, and a running
// one (its Log is still open, so its chain is locked).
func statusFixture(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "audit")
	now := time.Now()
	a, err := audit.Open(audit.Options{Dir: dir, Instance: "aaaaaaaaaaaa"})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(audit.StartInfo{Policy: "payments.yaml", Mode: "enforce"})
	ev := func(ago time.Duration, tool, decision, rule string, monitor bool) event.Event {
		e := event.Event{Time: now.Add(-ago), Tool: tool, Decision: event.Decision(decision), Rule: rule, Monitor: monitor,
			Reason: "because " + rule, Identity: "alice"}
		if decision == "allow" {
			e.Outcome, e.Reason = "ok", ""
		}
		return e
	}
	for i := range 6 {
		a.Record(ev(time.Duration(i)*time.Minute, "pay", "allow", "", false))
	}
	a.Record(ev(3*time.Minute, "pay", "deny", "spend cap", false))
	a.Record(ev(2*time.Minute, "pay", "deny", "spend cap", false))
	a.Record(ev(time.Minute, "refund", "approval_required", "big refunds", false))
	a.Record(ev(50*time.Second, "probe", "deny", "watch probes", true))
	a.Record(ev(50*time.Second, "probe", "allow", "", false))
	a.Record(ev(40*time.Second, "delete_repo", "hidden", "", false))
	a.Record(ev(30*time.Second, "", "invalid", "", false))
	a.Record(ev(3*time.Hour, "pay", "deny", "old rule", false)) // outside the window
	a.Reload(audit.ReloadResult{File: "payments.yaml", Result: "invalid", Errors: []string{`payments.yaml:3:5: unknown key "nmae"`}})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := audit.Open(audit.Options{Dir: dir, Instance: "bbbbbbbbbbbb"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	b.Start(audit.StartInfo{Policy: "github.yaml", Mode: "monitor"})
	b.Record(ev(10*time.Second, "merge", "deny", "merges need review", false))
	// Wait until the running instance's lines are on disk.
	mcptest.Eventually(t, 10*time.Second, func() bool { return b.Stats().Written >= 2 }, "the audit writer to write two lines")
	return dir
}

func TestStatusTable(t *testing.T) {
	dir := statusFixture(t)
	code, out, errs := run(t, "status", "--audit-dir", dir)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, re := range []string{
		`(?m)^Audit trail: ` + regexp.QuoteMeta(dir) + ` \(.* free\)$`,
		`(?m)^  INSTANCE +STATE +STARTED +LAST SEEN +POLICY +MODE +CALLS +CALLS/MIN +DENIED +APPROVAL +WOULD-DENY +HIDDEN +INVALID$`,
		// running first; one denial; 1 call
		`(?m)^  bbbbbbbbbbbb +running +\S+ \S+ +\S+ \S+ +github.yaml +monitor +1 +\d+\.\d +1 +0 +0 +0 +0$`,
		// 6 allowed + probe allowed + 2 denied + 1 approval + 1 hidden = 11 calls
		`(?m)^  aaaaaaaaaaaa +stopped +\S+ \S+ +\S+ \S+ +payments.yaml +enforce +11 +\d+\.\d +2 +1 +1 +1 +1$`,
		`(?m)^  RULE +DENIED +WOULD-DENY \(monitor\)$`,
		`(?m)^  spend cap +2 +0$`,
		`(?m)^  watch probes +0 +1$`,
		`(?m)^  big refunds +1 +0$`,
		`(?m)^  \S+ \S+ +bbbbbbbbbbbb +alice +merge +deny +merges need review +because merges need review$`,
		`(?m)^  \S+ \S+ +aaaaaaaaaaaa +alice +probe +would deny +watch probes`,
		`(?m)^  ! a reload of payments.yaml at .* was not applied \(invalid\): payments.yaml:3:5: unknown key "nmae"$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("output does not match %s\n%s", re, out)
		}
	}
	if strings.Contains(out, "old rule") {
		t.Errorf("a denial outside --since is listed:\n%s", out)
	}
	if _, out, _ := run(t, "status", "--audit-dir", dir, "--since", "4h"); !strings.Contains(out, "old rule") {
		t.Errorf("--since 4h does not reach the old denial:\n%s", out)
	}
}

func TestStatusJSON(t *testing.T) {
	dir := statusFixture(t)
	code, out, errs := run(t, "status", "--audit-dir", dir, "--json", "--recent", "2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rep statusReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(rep.Instances) != 2 || !rep.Instances[0].Running || rep.Instances[0].Instance != "bbbbbbbbbbbb" ||
		rep.Instances[1].Running || rep.Instances[1].Calls != 11 || rep.Instances[1].Denied != 2 ||
		rep.Instances[1].Hidden != 1 || rep.Instances[1].Invalid != 1 {
		t.Errorf("instances: %+v %+v", rep.Instances[0], rep.Instances[1])
	}
	if cpm := rep.Instances[1].CallsPerMin; cpm <= 0 {
		t.Errorf("calls per minute %v", cpm)
	}
	if len(rep.RecentDenials) != 2 || rep.RecentDenials[0].Tool != "merge" {
		t.Errorf("recent denials: %+v", rep.RecentDenials)
	}
	if len(rep.DenialsByRule) != 4 || rep.DenialsByRule[0] != (ruleCount{Rule: "spend cap", Denied: 2}) {
		t.Errorf("denials by rule: %+v", rep.DenialsByRule)
	}
	if len(rep.Reloads) != 1 || rep.Reloads[0].Result != "invalid" || rep.FreeBytes == nil {
		t.Errorf("reloads %+v, free %v", rep.Reloads, rep.FreeBytes)
	}
}

func TestStatusReportsLostLines(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := audit.Open(audit.Options{Dir: dir, Instance: "cccccccccccc"})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	// What a Log writes after a full disk recovers (see the audit tests).
	appendRecord(t, dir, &audit.Record{Time: time.Now(), Event: audit.KindLost, Instance: "cccccccccccc", Count: 3, Error: "write audit file: no space left on device"})
	_, out, _ := run(t, "status", "--audit-dir", dir)
	if !strings.Contains(out, "! instance cccccccccccc lost 3 audit line(s) to write errors (last: write audit file: no space left on device)") {
		t.Errorf("lost lines not reported:\n%s", out)
	}
}

// appendRecord appends a line as a Log would, by reopening the chain.
func appendRecord(t *testing.T, dir string, r *audit.Record) {
	t.Helper()
	files, _ := audit.ListFiles(dir)
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	f, err := openAppendForTest(files[len(files)-1].Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write(append(data, '\n'))
}

func openAppendForTest(path string) (interface {
	Write([]byte) (int, error)
	Close() error
}, error) {
	return os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
}
