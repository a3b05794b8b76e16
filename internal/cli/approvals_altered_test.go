package cli_test

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
)

// An agent running as the person's OS user can write the state file. These
// tests alter a pending record there, as such an agent would, and check
// that nobody signs it and no proxy honours it.

func aprDB(t *testing.T, dir string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "state.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func aprApproveRefused(t *testing.T, pol, id, want string, store ...string) {
	t.Helper()
	out, errOut, code := aprCLI(t, append([]string{"approve", id, "-c", pol, "--approver", "tester", "--reason", "checked",
		"--passphrase-file", aprPassFile(t, aprPassphrase)}, store...)...)
	if code == 0 || !strings.Contains(errOut, want) {
		t.Fatalf("approve %s of an altered record: exit %d, want a refusal saying %q\n%s%s", id, code, want, out, errOut)
	}
}

// TestApprovalBoundToTheCallShown: the agent holds a harmless call A and a
// harmful call B, then gives A's record B's fingerprint. The person looks
// at A (its harmless arguments) and approves it. Before, the CLI signed the
// fingerprint the record claimed, and B ran on that signature. Now the
// signer refuses a record whose fingerprint is not that of the call it
// shows, and so does the proxy (for a signature made anyhow).
func TestApprovalBoundToTheCallShown(t *testing.T) {
	pol := aprWritePolicy(t, "", "")
	dir := filepath.Join(t.TempDir(), "state")
	store := []string{"--state-dir", dir}
	p := aprStart(t, pol, "--state-dir", dir)
	const harmless = `{"amount":50001,"memo":"invoice 4411"}`
	const harmful = `{"amount":9999999,"memo":"to the agent's account"}`
	idA := aprPending(t, p.call("test_simple_text", harmless))
	idB := aprPending(t, p.call("test_simple_text", harmful))
	fpB := aprShow(t, idB, store...).Fingerprint
	if _, err := aprDB(t, dir).Exec(`UPDATE approvals SET fingerprint = ? WHERE id = ?`, fpB, idA); err != nil {
		t.Fatal(err)
	}
	if r := aprShow(t, idA, store...); r.Args != harmless {
		t.Fatalf("show A: %s", r.Args)
	}
	aprApproveRefused(t, pol, idA, "is not that of the call it shows", store...)

	// A signature over B's fingerprint on A's record, made by a signer
	// that does not check (an older Tollgate, a script on the admin API):
	// the proxy does not honour it either.
	key, err := approval.DeriveKey("tester", aprPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	recA := aprShow(t, idA, store...)
	if _, err := aprDB(t, dir).Exec(`UPDATE approvals SET status = 'approved', approver = 'tester', signature = ?, decided_ms = ? WHERE id = ?`,
		rawSign(key, recA, "tester"), time.Now().UnixMilli(), idA); err != nil {
		t.Fatal(err)
	}
	if r := p.call("test_simple_text", harmful); r.action != "approval_required" {
		t.Fatalf("the harmful call ran on an approval of the harmless one: %s", r.raw)
	}
}

// TestApprovalExpiryCannotBeStretched: the policy lets an approval live 2s;
// the agent moves a pending record's expiry a year ahead before the person
// approves it. Before, the CLI signed that expiry and the call could run
// for a year. Now the signer refuses, and the proxy refuses a record that
// lives longer than the policy's timeout, however it was signed.
func TestApprovalExpiryCannotBeStretched(t *testing.T) {
	pol := aprWritePolicy(t, "", "approval_timeout: 2s")
	dir := filepath.Join(t.TempDir(), "state")
	store := []string{"--state-dir", dir}
	p := aprStart(t, pol, "--state-dir", dir)
	const args = `{"amount":60000}`
	id := aprPending(t, p.call("test_simple_text", args))
	yearAhead := time.Now().Add(365 * 24 * time.Hour)
	if _, err := aprDB(t, dir).Exec(`UPDATE approvals SET expires_ms = ? WHERE id = ?`, yearAhead.UnixMilli(), id); err != nil {
		t.Fatal(err)
	}
	aprApproveRefused(t, pol, id, "later than the policy's approvals.timeout", store...)

	key, err := approval.DeriveKey("tester", aprPassphrase)
	if err != nil {
		t.Fatal(err)
	}
	rec := aprShow(t, id, store...)
	if _, err := aprDB(t, dir).Exec(`UPDATE approvals SET status = 'approved', approver = 'tester', signature = ?, decided_ms = ? WHERE id = ?`,
		rawSign(key, rec, "tester"), time.Now().UnixMilli(), id); err != nil {
		t.Fatal(err)
	}
	if r := p.call("test_simple_text", args); r.action != "approval_required" {
		t.Fatalf("a signed approval whose expiry outlives the policy's timeout let the call run: %s", r.raw)
	}
}

// TestShowEscapesHiddenCharacters: what `approvals show` prints (what a
// person reads before approving on a terminal) shows a right-to-left
// override, an isolate, a zero-width space and an 8-bit CSI as escapes, as
// the console does; printed raw they reorder or hide what the call does.
func TestShowEscapesHiddenCharacters(t *testing.T) {
	pol := aprWritePolicy(t, "", "")
	dir := filepath.Join(t.TempDir(), "state")
	store := []string{"--state-dir", dir}
	p := aprStart(t, pol, "--state-dir", dir)
	args := "{\"amount\":88000,\"to\":\"acct-\u202e1337-evil\u2066\",\"memo\":\"a\u200bb\u009b2K\"}"
	id := aprPending(t, p.call("test_simple_text", args))
	out, errOut, code := aprCLI(t, append([]string{"show", id}, store...)...)
	if code != 0 {
		t.Fatalf("show: %d %s", code, errOut)
	}
	for _, c := range []string{"\u202e", "\u2066", "\u200b", "\u009b"} {
		if strings.Contains(out, c) {
			t.Errorf("approvals show prints %U raw:\n%q", []rune(c)[0], out)
		}
	}
	if !strings.Contains(out, `acct-\u202E1337-evil\u2066`) {
		t.Errorf("approvals show does not show the override as an escape:\n%s", out)
	}
}
