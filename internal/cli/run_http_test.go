package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tollgate-mcp/tollgate/internal/auth"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// htPolicy limits "echo" to one call a minute per identity, so that a test
// can see whose identity a call ran under.
const htPolicy = `version: "1"
default: allow
tools:
  echo:
    rules:
      - name: one echo per identity
        rate_limit: 1/minute
        per: identity
`

// htFront is an in-process HTTP front (newHTTPFront behind a real
// listener) over a stdio server.
type htFront struct {
	url  string // http://127.0.0.1:PORT
	host string // 127.0.0.1:PORT
}

// htStart serves the HTTP front configured by flags (runFlags' own flag
// parsing) over argv until the test ends.
func htStart(t *testing.T, policyText string, argv []string, flags ...string) *htFront {
	t.Helper()
	var f runFlags
	fs := flag.NewFlagSet("tollgate run", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(flags); err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Load("policy.yaml", []byte(policyText))
	if err != nil {
		t.Fatal(err)
	}
	store, err := f.stateFlags.open(t.Context(), pol)
	if err != nil {
		t.Fatal(err)
	}
	g := gate.New(pol)
	g.Store = store
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
	front, err := newHTTPFront(t.Context(), e, &f, g, logger, argv, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: front.handler}
	go srv.Serve(ln)
	t.Cleanup(func() {
		front.Close()
		srv.Close()
		store.Close()
	})
	return &htFront{url: "http://" + ln.Addr().String(), host: ln.Addr().String()}
}

// htSession is a client session of the front.
type htSession struct {
	t      *testing.T
	url    string
	sid    string
	header http.Header
}

func (s *htSession) post(body string) (*http.Response, []byte) {
	s.t.Helper()
	req, _ := http.NewRequestWithContext(s.t.Context(), http.MethodPost, s.url+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range s.header {
		req.Header[k] = v
	}
	if s.sid != "" {
		req.Header.Set("Mcp-Session-Id", s.sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, raw
	}
	var last []byte
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && d != "" {
			last = []byte(d)
		}
	}
	return resp, last
}

// htInit opens a session; it fails the test unless initialize succeeds.
func htInit(t *testing.T, url string, header http.Header) *htSession {
	t.Helper()
	s := &htSession{t: t, url: url, header: header}
	resp, a := s.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(a, []byte(`"result"`)) {
		t.Fatalf("initialize: HTTP %d %s", resp.StatusCode, a)
	}
	s.sid = resp.Header.Get("Mcp-Session-Id")
	if r, _ := s.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); r.StatusCode != http.StatusAccepted {
		t.Fatalf("initialized: HTTP %d", r.StatusCode)
	}
	return s
}

func (s *htSession) echo(id int, msg string) []byte {
	s.t.Helper()
	_, a := s.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"message":%q}}}`, id, msg))
	return a
}

// htRaw sends one request with the given headers and returns the status,
// the headers and the body.
func htRaw(t *testing.T, method, url string, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

const htInitBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

func TestHTTPOriginAndHost(t *testing.T) {
	server := mcptest.Peer(t, "everything-server")
	fr := htStart(t, htPolicy, []string{server}, "--state", "memory", "--allow-origin", "https://app.example.com")
	_, port, _ := net.SplitHostPort(fr.host)
	tests := []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"no Origin", nil, http.StatusOK},
		{"same-port loopback Origin", map[string]string{"Origin": "http://localhost:" + port}, http.StatusOK},
		{"allowed Origin", map[string]string{"Origin": "https://app.example.com"}, http.StatusOK},
		{"foreign Origin, good Host", map[string]string{"Origin": "https://evil.example.com"}, http.StatusForbidden},
		{"loopback Origin on another port", map[string]string{"Origin": "http://localhost:1"}, http.StatusForbidden},
		{"null Origin", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"evil Host", map[string]string{"Host": "evil.example.com:" + port}, http.StatusForbidden},
		{"evil Host and Origin", map[string]string{"Host": "evil.example.com", "Origin": "http://evil.example.com"}, http.StatusForbidden},
		{"localhost Host", map[string]string{"Host": "localhost:" + port}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := htRaw(t, http.MethodPost, fr.url+"/mcp", tt.hdr, htInitBody)
			if status != tt.want {
				t.Fatalf("HTTP %d, want %d: %s", status, tt.want, body)
			}
		})
	}
	// The legacy endpoint is guarded too.
	status, _, _ := htRaw(t, http.MethodGet, fr.url+"/sse", map[string]string{"Origin": "https://evil.example.com"}, "")
	if status != http.StatusForbidden {
		t.Fatalf("GET /sse with a foreign Origin: HTTP %d, want 403", status)
	}
}

func TestHTTPAPIKeys(t *testing.T) {
	server := mcptest.Peer(t, "everything-server")
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	alice, err := auth.AddKey(keys, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := auth.AddKey(keys, "bob")
	if err != nil {
		t.Fatal(err)
	}
	fr := htStart(t, htPolicy, []string{server}, "--state", "memory", "--api-keys", keys)

	for name, hdr := range map[string]map[string]string{
		"no credential": nil,
		"wrong key":     {"Authorization": "Bearer " + auth.NewKey()},
		"basic auth":    {"Authorization": "Basic YWxpY2U6eA=="},
		"key of a JWT":  {"Authorization": "Bearer a.b.c"},
	} {
		t.Run(name, func(t *testing.T) {
			status, h, body := htRaw(t, http.MethodPost, fr.url+"/mcp", hdr, htInitBody)
			if status != http.StatusUnauthorized {
				t.Fatalf("HTTP %d, want 401: %s", status, body)
			}
			want := `resource_metadata="http://` + fr.host + `/.well-known/oauth-protected-resource/mcp"`
			if c := h.Get("WWW-Authenticate"); !strings.HasPrefix(c, "Bearer ") || !strings.Contains(c, want) {
				t.Fatalf("WWW-Authenticate %q, want Bearer with %s", c, want)
			}
		})
	}
	// The metadata is public.
	status, _, body := htRaw(t, http.MethodGet, fr.url+"/.well-known/oauth-protected-resource/mcp", nil, "")
	var md auth.ResourceMetadata
	if status != http.StatusOK || json.Unmarshal([]byte(body), &md) != nil || md.Resource != fr.url+"/mcp" {
		t.Fatalf("protected-resource metadata: HTTP %d %s", status, body)
	}

	// The key's name is the identity: per-identity limits count apart.
	a := htInit(t, fr.url, http.Header{"Authorization": {"Bearer " + alice}})
	b := htInit(t, fr.url, http.Header{"Authorization": {"Bearer " + bob}})
	if r := a.echo(1, "hi"); bytes.Contains(r, []byte("POLICY DENIED")) {
		t.Fatalf("alice's first echo: %s", r)
	}
	if r := a.echo(2, "hi"); !bytes.Contains(r, []byte("POLICY DENIED")) {
		t.Fatalf("alice's second echo was not limited: %s", r)
	}
	if r := b.echo(1, "hi"); bytes.Contains(r, []byte("POLICY DENIED")) {
		t.Fatalf("bob's first echo was limited by alice's: %s", r)
	}
	// bob cannot use alice's session.
	b.sid = a.sid
	if resp, _ := b.post(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bob in alice's session: HTTP %d, want 404", resp.StatusCode)
	}
}

// htJWKS writes a JWKS file with one ES256 key and returns a signer of
// tokens with that key.
func htJWKS(t *testing.T) (path string, sign func(jwt.Claims) string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	data, _ := json.Marshal(set)
	path = filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: priv, KeyID: "k1"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	return path, func(c jwt.Claims) string {
		s, err := jwt.Signed(signer).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestHTTPJWT(t *testing.T) {
	server := mcptest.Peer(t, "everything-server")
	jwks, sign := htJWKS(t)
	const iss, aud = "https://issuer.example.com", "https://mcp.example.com/mcp"
	fr := htStart(t, htPolicy, []string{server}, "--state", "memory", "--jwt-jwks", jwks, "--jwt-issuer", iss, "--jwt-audience", aud)
	now := time.Now()
	good := jwt.Claims{Issuer: iss, Subject: "carol", Audience: jwt.Audience{aud}, Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now)}
	tests := []struct {
		name   string
		claims func(c jwt.Claims) jwt.Claims
		want   int
	}{
		{"valid", func(c jwt.Claims) jwt.Claims { return c }, http.StatusOK},
		{"expired", func(c jwt.Claims) jwt.Claims { c.Expiry = jwt.NewNumericDate(now.Add(-time.Hour)); return c }, http.StatusUnauthorized},
		{"wrong audience", func(c jwt.Claims) jwt.Claims { c.Audience = jwt.Audience{"https://other.example.com"}; return c }, http.StatusUnauthorized},
		{"wrong issuer", func(c jwt.Claims) jwt.Claims { c.Issuer = "https://evil.example.com"; return c }, http.StatusUnauthorized},
		{"no expiry", func(c jwt.Claims) jwt.Claims { c.Expiry = nil; return c }, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := sign(tt.claims(good))
			status, h, body := htRaw(t, http.MethodPost, fr.url+"/mcp", map[string]string{"Authorization": "Bearer " + tok}, htInitBody)
			if status != tt.want {
				t.Fatalf("HTTP %d, want %d: %s", status, tt.want, body)
			}
			if tt.want == http.StatusUnauthorized && !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Errorf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
			}
		})
	}
	t.Run("signed by another key", func(t *testing.T) {
		_, other := htJWKS(t)
		status, _, body := htRaw(t, http.MethodPost, fr.url+"/mcp", map[string]string{"Authorization": "Bearer " + other(good)}, htInitBody)
		if status != http.StatusUnauthorized {
			t.Fatalf("HTTP %d, want 401: %s", status, body)
		}
	})
	status, _, body := htRaw(t, http.MethodGet, fr.url+"/.well-known/oauth-protected-resource", nil, "")
	if status != http.StatusOK || !strings.Contains(body, `"authorization_servers":["`+iss+`"]`) {
		t.Fatalf("metadata: HTTP %d %s", status, body)
	}
}

func TestHTTPSharedUpstreamSessionsStayApart(t *testing.T) {
	argv := mcptest.ServerEverything(t)
	fr := htStart(t, "version: \"1\"\ndefault: allow\n", argv, "--state", "memory", "--shared-upstream")
	const sessions, calls = 3, 8
	ss := make([]*htSession, sessions)
	for i := range ss {
		ss[i] = htInit(t, fr.url, nil)
	}
	var wg sync.WaitGroup
	errs := make(chan string, sessions*calls)
	for i, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Every session uses the same ids: the mux keeps them apart.
			var inner sync.WaitGroup
			for id := 1; id <= calls; id++ {
				inner.Add(1)
				go func() {
					defer inner.Done()
					msg := "s" + strconv.Itoa(i) + "-c" + strconv.Itoa(id)
					r := s.echo(id, msg)
					m, err := jsonrpc.Parse(r, false)
					if err != nil || string(m.ID) != strconv.Itoa(id) || !bytes.Contains(m.Result, []byte(`"Echo: `+msg+`"`)) {
						errs <- fmt.Sprintf("session %d call %d got %s", i, id, r)
					}
				}()
			}
			inner.Wait()
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// htRunBinary starts the tollgate binary with args and waits until its
// HTTP front answers; it returns the MCP endpoint URL.
func htRunBinary(t *testing.T, args ...string) string {
	t.Helper()
	bin := mcptest.Tollgate(t)
	pol := filepath.Join(t.TempDir(), "allow.yaml")
	if err := os.WriteFile(pol, []byte("version: \"1\"\ndefault: allow\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := mcptest.FreePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	full := append([]string{"run", "-c", pol, "--state", "memory", "--listen", addr}, args...)
	cmd := exec.Command(bin, full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("tollgate did not stop within 15 s of SIGINT")
		}
		if t.Failed() {
			t.Logf("tollgate stderr:\n%s", stderr.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tollgate did not listen on %s: %v\n%s", addr, err, stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("tollgate exited: %v\n%s", err, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return "http://" + addr + "/mcp"
}

// htConformance runs the official conformance suite against url and
// returns the totals.
func htConformance(t *testing.T, url string) (passed, failed int, out []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	out, _ = mcptest.RunConformance(t, ctx, "server", "--url", url, "--suite", "all")
	passed, failed, err := mcptest.ConformanceTotals(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return passed, failed, out
}

// htConformanceBaseline is what the Go SDK everything-server passes
// directly (docs/testing.md): Tollgate in front must pass at least that
// and fail nothing.
const htConformanceBaseline = 44

func TestHTTPFrontConformanceStdioUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the official conformance suite; skipped with -short")
	}
	mcptest.Conformance(t)
	server := mcptest.Peer(t, "everything-server")
	url := htRunBinary(t, "--", server)
	passed, failed, out := htConformance(t, url)
	if failed != 0 || passed < htConformanceBaseline {
		t.Fatalf("through Tollgate: %d passed, %d failed (want >= %d, 0)\n%s", passed, failed, htConformanceBaseline, out)
	}
	t.Logf("conformance through the HTTP front over stdio: %d passed", passed)
}

func TestHTTPFrontConformanceHTTPUpstream(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the official conformance suite; skipped with -short")
	}
	mcptest.Conformance(t)
	upstream := mcptest.EverythingServerHTTP(t, true)
	url := htRunBinary(t, "--upstream", upstream)
	passed, failed, out := htConformance(t, url)
	if failed != 0 || passed < htConformanceBaseline {
		t.Fatalf("through Tollgate: %d passed, %d failed (want >= %d, 0)\n%s", passed, failed, htConformanceBaseline, out)
	}
	t.Logf("conformance through the HTTP front over HTTP: %d passed", passed)
}

func TestHTTPInspectorBothTransports(t *testing.T) {
	mcptest.Inspector(t)
	argv := mcptest.ServerEverything(t)
	fr := htStart(t, "version: \"1\"\ndefault: allow\nhide: [get-sum]\n", argv, "--state", "memory")
	for _, target := range []string{fr.url + "/mcp", fr.url + "/sse"} {
		t.Run(target[strings.LastIndex(target, "/"):], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
			defer cancel()
			out, err := mcptest.RunInspector(t, ctx, []string{target}, "--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hi")
			if err != nil || !bytes.Contains(out, []byte("Echo: hi")) {
				t.Fatalf("tools/call echo: %v\n%s", err, out)
			}
			out, err = mcptest.RunInspector(t, ctx, []string{target}, "--method", "tools/list")
			if err != nil || bytes.Contains(out, []byte("get-sum")) || !bytes.Contains(out, []byte(`"echo"`)) {
				t.Fatalf("tools/list: %v\n%s", err, out)
			}
		})
	}
}

func TestHTTPCredentialNeverForwarded(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	upstream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if v := r.Header.Get("Authorization"); v != "" {
			leaked = append(leaked, v)
		}
		mu.Unlock()
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		body, _ := io.ReadAll(r.Body)
		m, err := jsonrpc.Parse(body, false)
		if err != nil || !m.IsRequest() {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		result := `{"tools":[]}`
		if m.Method == "initialize" {
			w.Header().Set("Mcp-Session-Id", "up-1")
			result = `{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"up","version":"1"}}`
		}
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, m.ID, result)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	us := &http.Server{Handler: upstream}
	go us.Serve(ln)
	t.Cleanup(func() { us.Close() })

	keys := filepath.Join(t.TempDir(), "keys.yaml")
	key, _ := auth.AddKey(keys, "alice")
	fr := htStart(t, htPolicy, nil, "--state", "memory", "--api-keys", keys, "--upstream", "http://"+ln.Addr().String()+"/mcp")
	s := htInit(t, fr.url, http.Header{"Authorization": {"Bearer " + key}})
	if _, a := s.post(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); !bytes.Contains(a, []byte(`"tools":[]`)) {
		t.Fatalf("tools/list %s", a)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Fatalf("the client's credential reached the upstream: %q", leaked)
	}
}

func TestHTTPFlagsAliases(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
		on   bool
	}{
		{[]string{"--listen", "127.0.0.1:9000"}, "127.0.0.1:9000", true},
		{[]string{"--transport", "http", "--port", "9001"}, "127.0.0.1:9001", true},
		{[]string{"--transport", "sse", "--bind", "0.0.0.0", "--port", "9002"}, "0.0.0.0:9002", true},
		{[]string{"--transport", "stdio"}, "127.0.0.1:8080", false},
	} {
		var f runFlags
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		f.register(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		addr, err := f.http.addr()
		if err != nil || addr != tt.want || f.http.enabled() != tt.on {
			t.Errorf("%q: addr %q, %v, enabled %v; want %q, %v", tt.args, addr, err, f.http.enabled(), tt.want, tt.on)
		}
	}
	var f runFlags
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f.register(fs)
	_ = fs.Parse([]string{"--transport", "websocket"})
	if _, err := f.http.addr(); err == nil || !f.http.enabled() {
		t.Error("--transport websocket accepted")
	}
}

func TestHTTPOriginCheck(t *testing.T) {
	tests := []struct {
		name    string
		scheme  string
		addr    string
		allowed []string
		origins []string // Origin headers sent
		want    bool
	}{
		{"no Origin", "http", "127.0.0.1:8080", nil, nil, true},
		{"own 127.0.0.1", "http", "127.0.0.1:8080", nil, []string{"http://127.0.0.1:8080"}, true},
		{"own localhost", "http", "127.0.0.1:8080", nil, []string{"http://localhost:8080"}, true},
		{"allowed origin", "http", "127.0.0.1:8080", []string{"https://App.Example.com/"}, []string{"https://app.example.com"}, true},
		{"allowed with its port", "http", "127.0.0.1:8080", []string{"http://app.example.com:3000"}, []string{"http://app.example.com:3000"}, true},
		{"allowed default port left out", "http", "127.0.0.1:8080", []string{"https://app.example.com:443"}, []string{"https://app.example.com"}, true},
		{"star", "http", "127.0.0.1:8080", []string{"*"}, []string{"https://evil.example.com"}, true},
		{"[::1] while listening on 127.0.0.1", "http", "127.0.0.1:8080", nil, []string{"http://[::1]:8080"}, false},
		{"other loopback address", "http", "127.0.0.1:8080", nil, []string{"http://127.0.0.2:8080"}, false},
		{"short form 127.1", "http", "127.0.0.1:8080", nil, []string{"http://127.1:8080"}, false},
		{"hex form 0x7f.1", "http", "127.0.0.1:8080", nil, []string{"http://0x7f.1:8080"}, false},
		{"decimal form", "http", "127.0.0.1:8080", nil, []string{"http://2130706433:8080"}, false},
		{"mapped IPv6", "http", "127.0.0.1:8080", nil, []string{"http://[::ffff:127.0.0.1]:8080"}, false},
		{"mapped IPv6 hex", "http", "127.0.0.1:8080", nil, []string{"http://[::ffff:7f00:1]:8080"}, false},
		{"other port", "http", "127.0.0.1:8080", nil, []string{"http://127.0.0.1:8081"}, false},
		{"no port", "http", "127.0.0.1:8080", nil, []string{"http://127.0.0.1"}, false},
		{"leading zero port", "http", "127.0.0.1:8080", nil, []string{"http://127.0.0.1:08080"}, false},
		{"upper-case host", "http", "127.0.0.1:8080", nil, []string{"http://LOCALHOST:8080"}, false},
		{"upper-case scheme", "http", "127.0.0.1:8080", nil, []string{"HTTP://localhost:8080"}, false},
		{"upper-case allowed origin", "http", "127.0.0.1:8080", []string{"https://app.example.com"}, []string{"https://APP.example.com"}, false},
		{"trailing dot", "http", "127.0.0.1:8080", nil, []string{"http://localhost.:8080"}, false},
		{"trailing dot on an allowed origin", "http", "127.0.0.1:8080", []string{"https://app.example.com"}, []string{"https://app.example.com."}, false},
		{"userinfo", "http", "127.0.0.1:8080", nil, []string{"http://user@localhost:8080"}, false},
		{"userinfo looking like the host", "http", "127.0.0.1:8080", nil, []string{"http://127.0.0.1:8080@evil.example.com"}, false},
		{"path", "http", "127.0.0.1:8080", nil, []string{"http://localhost:8080/"}, false},
		{"other scheme", "http", "127.0.0.1:8080", nil, []string{"https://localhost:8080"}, false},
		{"null", "http", "127.0.0.1:8080", nil, []string{"null"}, false},
		{"empty", "http", "127.0.0.1:8080", nil, []string{""}, false},
		{"two Origin headers", "http", "127.0.0.1:8080", nil, []string{"http://localhost:8080", "http://localhost:8080"}, false},
		{"subdomain of an allowed origin", "http", "127.0.0.1:8080", []string{"https://app.example.com"}, []string{"https://evil.app.example.com"}, false},
		{"own [::1]", "http", "[::1]:8080", nil, []string{"http://[::1]:8080"}, true},
		{"localhost on [::1]", "http", "[::1]:8080", nil, []string{"http://localhost:8080"}, true},
		{"127.0.0.1 on [::1]", "http", "[::1]:8080", nil, []string{"http://127.0.0.1:8080"}, false},
		{"[::1] written long", "http", "[::1]:8080", nil, []string{"http://[0:0:0:0:0:0:0:1]:8080"}, false},
		{"other loopback listen address", "http", "127.0.0.5:8080", nil, []string{"http://127.0.0.5:8080"}, true},
		{"localhost on another loopback address", "http", "127.0.0.5:8080", nil, []string{"http://localhost:8080"}, false},
		{"localhost on 0.0.0.0", "http", "0.0.0.0:8080", nil, []string{"http://localhost:8080"}, true},
		{"[::1] on 0.0.0.0", "http", "0.0.0.0:8080", nil, []string{"http://[::1]:8080"}, false},
		{"0.0.0.0 itself", "http", "0.0.0.0:8080", nil, []string{"http://0.0.0.0:8080"}, false},
		{"[::1] on ::", "http", "[::]:8080", nil, []string{"http://[::1]:8080"}, true},
		{"LAN address listened on", "http", "192.168.1.5:8080", nil, []string{"http://192.168.1.5:8080"}, false},
		{"default port left out", "http", "127.0.0.1:80", nil, []string{"http://127.0.0.1"}, true},
		{"default port written", "http", "127.0.0.1:80", nil, []string{"http://127.0.0.1:80"}, false},
		{"https front", "https", "127.0.0.1:8443", nil, []string{"https://localhost:8443"}, true},
		{"http origin of an https front", "https", "127.0.0.1:8443", nil, []string{"http://localhost:8443"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newOriginCheck(tt.scheme, tt.addr, tt.allowed)
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			for _, o := range tt.origins {
				r.Header.Add("Origin", o)
			}
			if got := c.allowed(r); got != tt.want {
				t.Errorf("Origin %q: allowed %v, want %v", tt.origins, got, tt.want)
			}
		})
	}
}

func TestHTTPAllowOriginValidated(t *testing.T) {
	for _, o := range []string{"null", "app.example.com", "https://app.example.com/path", "ftp://app.example.com", "https://u@app.example.com", "https://app.example.com?q", "https://"} {
		if _, err := newOriginCheck("http", "127.0.0.1:8080", []string{o}); err == nil {
			t.Errorf("--allow-origin %q accepted", o)
		}
	}
}

// TestHTTPOriginThroughBinary: the built binary refuses the lookalikes of
// its own origin and admits the exact forms.
func TestHTTPOriginThroughBinary(t *testing.T) {
	server := mcptest.Peer(t, "everything-server")
	url := htRunBinary(t, "--allow-origin", "https://app.example.com", "--", server)
	port := strings.TrimSuffix(strings.TrimPrefix(url, "http://127.0.0.1:"), "/mcp")
	for _, tc := range []struct {
		origin string
		want   int
	}{
		{"http://127.0.0.1:" + port, http.StatusOK},
		{"http://localhost:" + port, http.StatusOK},
		{"https://app.example.com", http.StatusOK},
		{"http://127.0.0.2:" + port, http.StatusForbidden},
		{"http://127.1:" + port, http.StatusForbidden},
		{"http://0x7f.1:" + port, http.StatusForbidden},
		{"http://2130706433:" + port, http.StatusForbidden},
		{"http://[::ffff:127.0.0.1]:" + port, http.StatusForbidden},
		{"http://[::1]:" + port, http.StatusForbidden},
		{"http://LocalHost:" + port, http.StatusForbidden},
		{"http://localhost.:" + port, http.StatusForbidden},
		{"http://user@localhost:" + port, http.StatusForbidden},
		{"http://localhost:1", http.StatusForbidden},
		{"null", http.StatusForbidden},
	} {
		t.Run(tc.origin, func(t *testing.T) {
			status, _, body := htRaw(t, http.MethodPost, url, map[string]string{"Origin": tc.origin}, htInitBody)
			if status != tc.want {
				t.Fatalf("HTTP %d, want %d: %s", status, tc.want, body)
			}
		})
	}
}
