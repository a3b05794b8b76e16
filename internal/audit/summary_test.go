package audit_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-mcp/tollgate/internal/audit"
	"github.com/tollgate-mcp/tollgate/internal/event"
)

// summaryTrail writes one stopped instance's trail: every kind of answer to
// a call, in enforce and in monitor mode, one call long before the window,
// and a rejected reload.
func summaryTrail(t *testing.T, now time.Time) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "audit")
	l, err := audit.Open(audit.Options{Dir: dir, Instance: "aaaaaaaaaaaa"})
	if err != nil {
		t.Fatal(err)
	}
	l.Start(audit.StartInfo{Policy: "p.yaml", Mode: "enforce"})
	at := func(ago time.Duration, tool string, d event.Decision, rule, reason, outcome string, monitor bool) {
		l.Record(event.Event{Time: now.Add(-ago), Tool: tool, Decision: d, Rule: rule, Reason: reason, Outcome: outcome, Monitor: monitor})
	}
	at(10*time.Minute, "read", "allow", "", "", "ok", false)           // a call
	at(9*time.Minute, "read", "allow", "", "", "", false)              // no outcome: not an answered call
	at(8*time.Minute, "pay", "deny", "cap", "over the cap", "", false) // denied
	at(7*time.Minute, "pay", "approval_required", "big", "big one", "", false)
	at(6*time.Minute, "pay", "approval_requested", "big", "big one", "", false)
	at(5*time.Minute, "pay", "approval_reused", "big", "big one", "", false)
	at(4*time.Minute, "pay", "approved", "big", "", "", false) // a step of an approval, not an answer
	at(3*time.Minute, "wipe", "deny", "", "wiping is never allowed here at all today", "", false)
	at(2*time.Minute, "probe", "deny", "watch", "watch it", "", true) // would deny
	at(100*time.Second, "secret", "hidden", "", "", "", false)
	at(90*time.Second, "secret", "hidden", "", "", "", true)
	at(80*time.Second, "", "invalid", "", "duplicate key", "", false)
	at(3*time.Hour, "pay", "deny", "old", "long ago", "", false) // before the window
	l.Reload(audit.ReloadResult{File: "p.yaml", Result: "invalid", Errors: []string{"p.yaml:1:1: bad", "p.yaml:2:1: worse"}})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSummarize(t *testing.T) {
	now := time.Now()
	dir := summaryTrail(t, now)
	s, err := audit.Summarize(dir, now, time.Hour, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Instances) != 1 {
		t.Fatalf("instances: %+v", s.Instances)
	}
	in := *s.Instances[0]
	got := [...]int{in.Calls, in.Denied, in.Approvals, in.Monitored, in.Hidden, in.Invalid}
	// Calls: read, pay denied, three approvals asked, wipe, the hidden call.
	if want := [...]int{7, 2, 3, 2, 1, 1}; got != want {
		t.Errorf("calls, denied, approvals, would-deny, hidden, invalid = %v, want %v", got, want)
	}
	if in.Running || in.Stopped.IsZero() || in.Policy != "p.yaml" || in.Mode != "enforce" {
		t.Errorf("instance: %+v", in)
	}
	wantRules := []audit.RuleCount{
		{Rule: "big", Denied: 3},
		{Rule: "(no rule: wiping is never allowed here at…)", Denied: 1},
		{Rule: "cap", Denied: 1},
		{Rule: "watch", WouldDeny: 1},
	}
	if diff := cmp.Diff(wantRules, s.DenialsByRule); diff != "" {
		t.Errorf("denials by rule (-want +got):\n%s", diff)
	}
	var tools []string
	for _, d := range s.RecentDenials {
		tools = append(tools, string(d.Decision)+" "+d.Tool)
	}
	if diff := cmp.Diff([]string{"invalid ", "hidden secret", "hidden secret"}, tools); diff != "" {
		t.Errorf("recent denials, newest first, at most 3 (-want +got):\n%s", diff)
	}
	if !s.RecentDenials[1].Monitor || s.RecentDenials[2].Monitor {
		t.Errorf("the monitored hidden call is not the newer one: %+v", s.RecentDenials)
	}
	if len(s.Reloads) != 1 || s.Reloads[0].Result != "invalid" {
		t.Errorf("reloads: %+v", s.Reloads)
	}
	wantProblem := "a reload of p.yaml at " + s.Reloads[0].Time.Format(time.DateTime) + " was not applied (invalid): p.yaml:1:1: bad (and 1 more)"
	if !contains(s.Problems, wantProblem) {
		t.Errorf("problems %q lack %q", s.Problems, wantProblem)
	}

	// A wider window reaches the old denial.
	wide, err := audit.Summarize(dir, now, 4*time.Hour, 100)
	if err != nil {
		t.Fatal(err)
	}
	if wide.Instances[0].Denied != 3 || len(wide.RecentDenials) != 10 {
		t.Errorf("4h window: denied %d, %d recent denials; want 3 and 10", wide.Instances[0].Denied, len(wide.RecentDenials))
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSummarizeBadLines: a line that is not a record (a torn write, or
// someone's edit) is counted and reported, and does not hide the rest.
func TestSummarizeBadLines(t *testing.T) {
	now := time.Now()
	dir := summaryTrail(t, now)
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("chain files: %v, %v", files, err)
	}
	f, err := os.OpenFile(files[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("{not json\n")
	f.Close()
	s, err := audit.Summarize(dir, now, time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	if s.BadLines != 1 || !contains(s.Problems, "1 unreadable audit line(s); run tollgate audit verify") {
		t.Errorf("bad lines %d, problems %q", s.BadLines, s.Problems)
	}
	if len(s.Instances) != 1 || s.Instances[0].Calls != 7 {
		t.Errorf("instances: %+v", s.Instances)
	}
}

func TestSummarizeMissingDir(t *testing.T) {
	_, err := audit.Summarize(filepath.Join(t.TempDir(), "nope"), time.Now(), time.Hour, 10)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Summarize of a missing directory = %v, want ErrNotExist", err)
	}
}

// TestSummaryJSON pins the JSON names: tollgate status --json prints a
// Summary, and scripts read it.
func TestSummaryJSON(t *testing.T) {
	now := time.Now()
	s, err := audit.Summarize(summaryTrail(t, now), now, time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var inst []map[string]json.RawMessage
	var deny []map[string]json.RawMessage
	json.Unmarshal(m["instances"], &inst)
	json.Unmarshal(m["recent_denials"], &deny)
	keys := func(m map[string]json.RawMessage) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		sort.Strings(ks)
		return ks
	}
	want := map[string][]string{
		"summary":  {"audit_dir", "denials_by_rule", "free_bytes", "instances", "now", "problems", "recent_denials", "reloads", "since"},
		"instance": {"approval_required", "audit_lines_dropped", "audit_lines_lost", "calls", "calls_per_minute", "chain", "denied", "hidden", "instance", "invalid", "last_seen", "mode", "policy_file", "running", "started", "stopped", "would_deny"},
		"denial":   {"decision", "instance", "reason", "time", "tool"},
	}
	got := map[string][]string{"summary": keys(m), "instance": keys(inst[0]), "denial": keys(deny[0])}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("JSON names (-want +got):\n%s", diff)
	}
}
