package console

import (
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/memstore"
)

const testPass = "correct horse battery staple"

// startConsole serves a console over a real approval store on loopback and
// returns its base URL and token.
func startConsole(t *testing.T, policyText string) (srv *Server, base string, store approval.Store, policyPath string) {
	t.Helper()
	return startConsoleWith(t, policyText, nil)
}

// startConsoleWith is startConsole with a change to the Config first.
func startConsoleWith(t *testing.T, policyText string, edit func(*Config)) (srv *Server, base string, store approval.Store, policyPath string) {
	t.Helper()
	dir := t.TempDir()
	policyPath = filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyPath, []byte(policyText), 0o600); err != nil {
		t.Fatal(err)
	}
	store = memstore.New()
	cfg := Config{Approvals: store, Policies: []string{policyPath}, AuditDir: filepath.Join(dir, "audit")}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, "http://" + ln.Addr().String(), store, policyPath
}

func approverPolicy(t *testing.T) string {
	t.Helper()
	key, err := approval.DeriveKey("alice", testPass)
	if err != nil {
		t.Fatal(err)
	}
	return "version: \"1\"\napprovals:\n  approvers:\n    alice: " + approval.FormatPublicKey(key.Public().(ed25519.PublicKey)) +
		"\ntools:\n  pay:\n    rules:\n      - name: pay needs approval\n        action: require_approval\n"
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func fetchPage(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// signIn spends the token and returns the session's CSRF token.
func signIn(t *testing.T, c *http.Client, base, token string) string {
	t.Helper()
	resp, _ := fetchPage(t, c, base+"/approvals?token="+token)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/approvals" {
		t.Fatalf("token exchange: %s, Location %q; want 303 to /approvals", resp.Status, resp.Header.Get("Location"))
	}
	sc := resp.Header.Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("session cookie %q lacks %s", sc, want)
		}
	}
	resp, body := fetchPage(t, c, base+"/approvals")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("approvals page after sign-in: %s", resp.Status)
	}
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		// The approvals page has no form when the queue is empty: the
		// rules page always has one per tool.
		_, body = fetchPage(t, c, base+"/rules")
		m = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	}
	if m == nil {
		t.Fatal("no CSRF token on the pages")
	}
	return m[1]
}

func post(t *testing.T, c *http.Client, base, path string, form url.Values, origin string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestAccess(t *testing.T) {
	srv, base, _, _ := startConsole(t, "version: \"1\"\ntools:\n  echo:\n    rules: []\n")
	token := srv.Token()
	stranger := client(t)
	for _, path := range []string{"/", "/decisions", "/approvals", "/rules", "/counters", "/events", "/static/app.js", "/decisions?token=" + strings.Repeat("0", 64)} {
		if resp, _ := fetchPage(t, stranger, base+path); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %s, want 401", path, resp.Status)
		}
	}
	if resp := post(t, stranger, base, "/rules", url.Values{"tool": {"echo"}, "kind": {"deny"}}, base); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST without a session: %s, want 401", resp.Status)
	}

	person := client(t)
	csrf := signIn(t, person, base, token)

	// The token works once: a second browser (the agent, say) cannot use it.
	if resp, _ := fetchPage(t, client(t), base+"/?token="+token); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("second use of the token: %s, want 401", resp.Status)
	}

	// DNS rebinding: a page served as evil.example that resolves to
	// 127.0.0.1 sends its own Host.
	req, _ := http.NewRequest(http.MethodGet, base+"/decisions", nil)
	req.Host = "evil.example:" + base[strings.LastIndex(base, ":")+1:]
	if resp, err := person.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %v %v, want 421", resp.Status, err)
	}

	form := url.Values{"file": {"0"}, "tool": {"echo"}, "kind": {"deny"}}
	if resp := post(t, person, base, "/rules", form, base); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without CSRF token: %s, want 403", resp.Status)
	}
	form.Set("csrf", csrf)
	if resp := post(t, person, base, "/rules", form, "http://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST from another origin: %s, want 403", resp.Status)
	}
	if resp := post(t, person, base, "/rules", form, ""); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without Origin: %s, want 403", resp.Status)
	}
	form.Set("csrf", strings.Repeat("0", len(csrf)))
	if resp := post(t, person, base, "/rules", form, base); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST with a wrong CSRF token: %s, want 403", resp.Status)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if resp, _ := fetchPage(t, person, base+"/decisions"); resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

func TestApproveAndDeny(t *testing.T) {
	srv, base, store, _ := startConsole(t, approverPolicy(t))
	ctx := context.Background()
	now := time.Now()
	hold := func(args string) approval.Record {
		fp, hash, err := approval.Fingerprint(approval.Call{Tool: "pay", Args: []byte(args), Rule: "pay needs approval"})
		if err != nil {
			t.Fatal(err)
		}
		res, err := store.Begin(ctx, approval.BeginRequest{Now: now, New: approval.Record{ID: approval.NewID(), Fingerprint: fp,
			Tool: "pay", Args: args, ArgsHash: hash, Rule: "pay needs approval", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Record
	}
	held := hold(`{"amount":5,"to":"bob\u202e"}`)
	other := hold(`{"amount":6}`)
	c := client(t)
	csrf := signIn(t, c, base, srv.Token())
	_, page := fetchPage(t, c, base+"/approvals")
	if !strings.Contains(page, held.ID) || !strings.Contains(page, `&#34;amount&#34;: 5`) {
		t.Errorf("the queue does not show the held call with its arguments:\n%s", page)
	}
	if !strings.Contains(page, `bob\u202e`) {
		t.Errorf("a right-to-left override in the arguments is not shown as an escape")
	}

	approve := func(id, name, pass string) {
		t.Helper()
		r, err := store.Get(ctx, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp := post(t, c, base, "/approvals/"+id+"/approve", url.Values{"csrf": {csrf}, "approver": {name}, "passphrase": {pass}, "fingerprint": {r.Fingerprint}}, base)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("approve: %s", resp.Status)
		}
	}
	status := func(id string) approval.Record {
		r, err := store.Get(ctx, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	approve(held.ID, "alice", "wrong passphrase, long enough")
	if r := status(held.ID); r.Status != approval.Pending {
		t.Errorf("a wrong passphrase approved it: %s", r.Status)
	}
	approve(held.ID, "mallory", testPass)
	if r := status(held.ID); r.Status != approval.Pending {
		t.Errorf("an approver the policy does not list approved it: %s", r.Status)
	}
	approve(held.ID, "alice", testPass)
	r := status(held.ID)
	if r.Status != approval.Approved || r.Approver != "alice" {
		t.Fatalf("after approving: %s by %q", r.Status, r.Approver)
	}
	key, _ := approval.DeriveKey("alice", testPass)
	keys := map[string]ed25519.PublicKey{"alice": key.Public().(ed25519.PublicKey)}
	if err := approval.CheckDecision(keys, held.Fingerprint, r); err != nil {
		t.Errorf("the stored signature does not verify as the gate checks it: %v", err)
	}
	if err := approval.CheckDecision(keys, other.Fingerprint, r); err == nil {
		t.Errorf("the signature also verifies for another call")
	}

	post(t, c, base, "/approvals/"+other.ID+"/deny", url.Values{"csrf": {csrf}, "approver": {"alice"}}, base)
	if r := status(other.ID); r.Status != approval.Pending {
		t.Errorf("denied without a reason: %s", r.Status)
	}
	post(t, c, base, "/approvals/"+other.ID+"/deny", url.Values{"csrf": {csrf}, "approver": {"alice"}, "reason": {"not this one"}}, base)
	if r := status(other.ID); r.Status != approval.Denied || r.Note != "not this one" {
		t.Errorf("after denying: %s, note %q", r.Status, r.Note)
	}
}

func TestLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:0": true, "[::1]:8080": true, "localhost:1": true, "127.1.2.3:9": true,
		"0.0.0.0:0": false, ":8080": false, "[::]:0": false, "192.168.1.5:80": false, "example.com:80": false, "127.0.0.1": false,
	} {
		if got := Loopback(addr); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", addr, got, want)
		}
	}
}
