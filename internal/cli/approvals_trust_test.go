package cli_test

import (
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// TestApprovalsAgentCannotApprove plays the agent: a process with the
// person's user, environment and files (the state directory, its admin
// token, the policy), but not the passphrase, tries every way to approve its
// own held call. Then the person approves and the retry runs exactly once.
func TestApprovalsAgentCannotApprove(t *testing.T) {
	pol := aprWritePolicy(t, "", "")
	dir := filepath.Join(t.TempDir(), "state")
	store := []string{"--state-dir", dir}
	addr := "127.0.0.1:" + strconv.Itoa(mcptest.FreePort(t))
	p := aprStart(t, pol, "--state-dir", dir, "--admin-addr", addr)
	const args = `{"amount":88000,"memo":"agent"}`
	id := aprPending(t, p.call("test_simple_text", args))

	// 1. The CLI: it has no terminal to be asked a passphrase on, and a
	// guessed passphrase is not tester's.
	if _, errOut, code := aprCLI(t, append([]string{"approve", id, "-c", pol}, store...)...); code == 0 || !strings.Contains(errOut, "no terminal") {
		t.Fatalf("approve without a terminal: exit %d %s", code, errOut)
	}
	if _, errOut, code := aprCLI(t, append([]string{"approve", id, "-c", pol, "--passphrase-file", aprPassFile(t, "password1234")}, store...)...); code == 0 || !strings.Contains(errOut, "wrong passphrase") {
		t.Fatalf("approve with a guessed passphrase: exit %d %s", code, errOut)
	}
	if _, errOut, code := aprCLI(t, append([]string{"approve", id}, store...)...); code == 0 || !strings.Contains(errOut, "-c policy.yaml") {
		t.Fatalf("approve without the policy: exit %d %s", code, errOut)
	}
	if r := aprShow(t, id, store...); r.Status != approval.Pending {
		t.Fatalf("after the CLI attempts: %+v", r)
	}

	// 2. The admin API with the token from the state directory, without a
	// signature or with one by a key of its own.
	tok, err := os.ReadFile(filepath.Join(dir, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	own, _ := approval.DeriveKey("tester", "the agent's own passphrase")
	rec := aprShow(t, id, store...)
	for _, body := range []string{
		`{"approver":"tester","reason":"I checked it myself"}`,
		`{"approver":"tester","signature":"` + rawSign(own, rec, "tester") + `"}`,
	} {
		if code, out := aprHTTP(t, "POST", "http://"+addr+"/v1/approvals/"+id+"/approve", body, token); code != http.StatusForbidden {
			t.Fatalf("admin approve with %s: %d %s", body, code, out)
		}
	}

	// 3. The state file: it writes approved into state.db itself.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "state.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if res, err := db.Exec(`UPDATE approvals SET status = 'approved', approver = 'tester', decided_ms = ?, signature = ? WHERE id = ?`,
		time.Now().UnixMilli(), rawSign(own, rec, "tester"), id); err != nil {
		t.Fatal(err)
	} else if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("updated %d rows", n)
	}
	id2 := aprPending(t, p.call("test_simple_text", args)) // still held: a new request
	if id2 == id {
		t.Fatal("the held answer names the forged approval")
	}
	aprAudit(t, dir, `"decision":"approval_unverified"`, id)
	if r := aprShow(t, id, store...); r.Status != approval.Approved {
		t.Fatalf("the forged approval was consumed: %+v", r)
	}

	// The person approves the new request; the retry runs exactly once.
	aprApprove(t, pol, id2, store...)
	aprForwarded(t, p.call("test_simple_text", args), aprSimpleText)
	if r := aprShow(t, id2, store...); r.Status != approval.Consumed {
		t.Fatalf("after the retry: %+v", r)
	}
	// 4. Replaying the person's approval: it sets the consumed record back
	// to approved (its signature is genuine).
	if _, err := db.Exec(`UPDATE approvals SET status = 'approved', consumed_ms = 0 WHERE id = ?`, id2); err != nil {
		t.Fatal(err)
	}
	aprPending(t, p.call("test_simple_text", args))
	aprAudit(t, dir, "already ran", id2)
}

// aprAudit waits until the audit trail under the state directory has a
// line containing both want and id.
func aprAudit(t *testing.T, dir, want, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "audit", "*"))
		for _, f := range files {
			data, _ := os.ReadFile(f)
			for _, line := range strings.Split(string(data), "\n") {
				if strings.Contains(line, want) && strings.Contains(line, id) {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit line with %s for %s under %s", want, id, dir)
		}
		time.Sleep(20 * time.Millisecond) // polling another process's file
	}
}

func TestApprovalsKeygen(t *testing.T) {
	out, errOut, code := aprCLI(t, "keygen", "--name", "tester", "--passphrase-file", aprPassFile(t, aprPassphrase))
	want := "approvals:\n  approvers:\n    tester: " + aprKey() + "\n"
	if code != 0 || out != want || !strings.Contains(errOut, "not stored") {
		t.Fatalf("keygen: exit %d\n%s\nwant\n%s%s", code, out, want, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"keygen", "--name", "tester", "--passphrase-file", aprPassFile(t, "short")}, "at least 12"},
		{[]string{"keygen", "--name", "te ster", "--passphrase-file", aprPassFile(t, aprPassphrase)}, "--name"},
		{[]string{"keygen", "--passphrase-file", aprPassFile(t, aprPassphrase)}, "--name NAME"},
		{[]string{"keygen", "--name", "tester"}, "no terminal"},
	} {
		if out, errOut, code := aprCLI(t, tc.args...); code == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d %s%s, want an error about %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestApprovalsNoApprovers: without approvers in the policy, approve says
// how to set one up.
func TestApprovalsNoApprovers(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(pol, []byte("version: \"1\"\napprovals:\n  inline: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := aprCLI(t, "approve", approval.NewID(), "-c", pol, "--state-dir", filepath.Join(t.TempDir(), "state"))
	if code != 1 || !strings.Contains(errOut, "lists no approvers") || !strings.Contains(errOut, "tollgate approvals keygen --name") ||
		!strings.Contains(errOut, "docs/approvals.md#trust-model") {
		t.Fatalf("approve with no approvers: exit %d %s", code, errOut)
	}
}

// rawSign signs r's statement as SignDecision did before it checked the
// record: for tests of what a proxy does with any signature.
func rawSign(key ed25519.PrivateKey, r approval.Record, approver string) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(ed25519.Sign(key, approval.Statement(r.ID, r.Fingerprint, approver, r.ExpiresAt)))
}
