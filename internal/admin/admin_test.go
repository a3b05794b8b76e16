package admin

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/memstore"
	"github.com/tollgate-mcp/tollgate/internal/event"
)

func TestToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	a, err := LoadOrCreateToken(dir)
	if err != nil || len(a) != 64 {
		t.Fatalf("first: %q %v", a, err)
	}
	fi, err := os.Stat(filepath.Join(dir, TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, %v", fi.Mode().Perm(), err)
	}
	b, err := LoadOrCreateToken(dir)
	if err != nil || b != a {
		t.Fatalf("second start read %q, %v; want the same token", b, err)
	}
	os.Chmod(filepath.Join(dir, TokenFile), 0o644)
	if _, err := LoadOrCreateToken(dir); err == nil {
		t.Fatal("a world-readable token file was accepted")
	}
}

func TestListenLoopbackOnly(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0"} {
		if l, err := Listen(addr, false); err == nil {
			l.Close()
			t.Errorf("Listen(%q) without --admin-allow-remote succeeded", addr)
		}
	}
	l, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

func TestAPI(t *testing.T) {
	store := memstore.New()
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	var decided []string
	_, alice, _ := ed25519.GenerateKey(nil)
	_, bob, _ := ed25519.GenerateKey(nil)
	var mu sync.Mutex
	approvers := map[string]ed25519.PublicKey{"alice": alice.Public().(ed25519.PublicKey)}
	s := &Server{Store: store, Token: strings.Repeat("ab", 32), Now: func() time.Time { return now },
		OnDecision: func(ev event.Decision, r approval.Record) {
			decided = append(decided, string(ev)+":"+r.ID+":"+r.Approver)
		},
		Approvers: func() map[string]ed25519.PublicKey { mu.Lock(); defer mu.Unlock(); return approvers }}
	l, err := Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	base := "http://" + l.Addr().String()
	mk := func(amount string) approval.Record {
		args := `{"amount":` + amount + `}`
		fp, _, err := approval.Fingerprint(approval.Call{Tool: "pay", Args: []byte(args), Rule: "r"})
		if err != nil {
			t.Fatal(err)
		}
		r := approval.Record{ID: approval.NewID(), Fingerprint: fp, Tool: "pay", Args: args, Rule: "r", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		if _, err := store.Begin(context.Background(), approval.BeginRequest{New: r, Now: now}); err != nil {
			t.Fatal(err)
		}
		return r
	}
	r1, r2 := mk("1"), mk("2")
	body := func(approver string, key ed25519.PrivateKey, r approval.Record) string {
		b, _ := json.Marshal(map[string]string{"approver": approver, "signature": rawSign(key, r, approver), "reason": "looks fine"})
		return string(b)
	}

	do := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	tok := s.Token
	for _, bad := range []string{"", "wrong", tok[:len(tok)-1]} {
		if code, _ := do("GET", "/v1/approvals", bad, ""); code != http.StatusUnauthorized {
			t.Errorf("token %q: status %d, want 401", bad, code)
		}
	}
	code, out := do("GET", "/v1/approvals?status=pending", tok, "")
	if code != 200 || len(out["approvals"].([]any)) != 2 {
		t.Fatalf("list: %d %v", code, out)
	}
	code, out = do("GET", "/v1/approvals/"+r1.ID, tok, "")
	if code != 200 || out["id"] != r1.ID || out["status"] != "pending" || out["tool"] != "pay" {
		t.Fatalf("show: %d %v", code, out)
	}
	if code, _ := do("POST", "/v1/approvals/"+r1.ID+"/approve", tok, `{}`); code != http.StatusBadRequest {
		t.Fatalf("approve without approver: %d", code)
	}
	// The token alone does not approve: an agent can read the token file.
	r1other := r1
	r1other.Fingerprint = "b"
	for name, b := range map[string]string{
		"no signature":            `{"approver":"alice","reason":"looks fine"}`,
		"empty signature":         `{"approver":"alice","signature":""}`,
		"garbage":                 `{"approver":"alice","signature":"ed25519:AAAA"}`,
		"an unlisted key":         body("alice", bob, r1),
		"an unlisted approver":    body("bob", bob, r1),
		"alice's, for another id": body("alice", alice, r2),
		"alice's, as bob":         strings.Replace(body("alice", alice, r1), `"alice"`, `"bob"`, 1),
		"alice's, another call":   body("alice", alice, r1other),
	} {
		if code, out := do("POST", "/v1/approvals/"+r1.ID+"/approve", tok, b); code != http.StatusForbidden || !strings.Contains(out["error"].(string), "docs/approvals.md#trust-model") {
			t.Errorf("approve with %s: %d %v, want 403", name, code, out)
		}
	}
	if r, _ := store.Get(context.Background(), r1.ID, now); r.Status != approval.Pending {
		t.Fatalf("a refused approve changed the record: %+v", r)
	}
	mu.Lock()
	approvers = nil
	mu.Unlock()
	if code, out := do("POST", "/v1/approvals/"+r1.ID+"/approve", tok, body("alice", alice, r1)); code != http.StatusForbidden || !strings.Contains(out["error"].(string), "keygen") {
		t.Fatalf("approve with no approvers in the policy: %d %v", code, out)
	}
	mu.Lock()
	approvers = map[string]ed25519.PublicKey{"alice": alice.Public().(ed25519.PublicKey)}
	mu.Unlock()
	code, out = do("POST", "/v1/approvals/"+r1.ID+"/approve", tok, body("alice", alice, r1))
	if code != 200 || out["status"] != "approved" || out["approver"] != "alice" || out["note"] != "looks fine" {
		t.Fatalf("approve: %d %v", code, out)
	}
	if got, _ := store.Get(context.Background(), r1.ID, now); approval.CheckDecision(approvers, r1.Fingerprint, got) != nil {
		t.Fatalf("the stored approval does not verify: %+v", got)
	}
	if code, _ := do("POST", "/v1/approvals/"+r1.ID+"/deny", tok, `{"approver":"bob"}`); code != http.StatusConflict {
		t.Fatalf("deny after approve: %d", code)
	}
	if code, out := do("POST", "/v1/approvals/"+r2.ID+"/deny", tok, `{"approver":"bob"}`); code != 200 || out["status"] != "denied" {
		t.Fatalf("deny: %d %v", code, out)
	}
	for _, forged := range []string{approval.NewID(), "apr_nope", "..%2f..%2fetc"} {
		if code, _ := do("POST", "/v1/approvals/"+forged+"/approve", tok, `{"approver":"alice","signature":"ed25519:AAAA"}`); code != http.StatusNotFound {
			t.Errorf("approve %q: %d, want 404", forged, code)
		}
		if code, _ := do("GET", "/v1/approvals/"+forged, tok, ""); code != http.StatusNotFound {
			t.Errorf("show %q: %d, want 404", forged, code)
		}
	}
	if code, out := do("GET", "/v1/approvals?status=pending", tok, ""); code != 200 || len(out["approvals"].([]any)) != 0 {
		t.Fatalf("list pending after decisions: %d %v", code, out)
	}
	if code, _ := do("GET", "/v1/approvals?status=bogus", tok, ""); code != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d", code)
	}
	want := "approval_approved:" + r1.ID + ":alice,approval_denied:" + r2.ID + ":bob"
	if strings.Join(decided, ",") != want {
		t.Fatalf("OnDecision %v, want %s", decided, want)
	}
}

// rawSign signs r's statement as SignDecision did before it checked the
// record: for tests of what a proxy does with any signature.
func rawSign(key ed25519.PrivateKey, r approval.Record, approver string) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(ed25519.Sign(key, approval.Statement(r.ID, r.Fingerprint, approver, r.ExpiresAt)))
}
