package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func fakeServerArgv(t *testing.T, mode string) []string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SCAN_FAKE_SERVER", mode)
	return []string{exe, "-test.run=^$"}
}

func toolNames(tools []Tool) []string {
	var names []string
	for _, t := range tools {
		names = append(names, t.Name)
	}
	return names
}

func TestFetchStdioPagesAndPing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	inv, err := FetchStdio(ctx, fakeServerArgv(t, "paged"), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"list_items", "get_item", "delete_item", "create_charge"}
	if diff := cmp.Diff(want, toolNames(inv.Tools)); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	if inv.Server.Name != "fake" || inv.Server.ProtocolVersion != "2025-06-18" || !strings.HasPrefix(inv.Server.Source, "stdio: ") {
		t.Errorf("server = %+v", inv.Server)
	}
}

func TestFetchStdioErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Run("crash", func(t *testing.T) {
		_, err := FetchStdio(ctx, fakeServerArgv(t, "crash"), nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "cannot open database") || !strings.Contains(err.Error(), "exit status 3") {
			t.Errorf("err = %v, want the server's stderr and exit status", err)
		}
	})
	t.Run("server error", func(t *testing.T) {
		_, err := FetchStdio(ctx, fakeServerArgv(t, "error"), nil, Options{})
		if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "backend unavailable") {
			t.Errorf("err = %v, want the server's error", err)
		}
	})
	t.Run("no such command", func(t *testing.T) {
		_, err := FetchStdio(ctx, []string{"/nonexistent/mcp-server"}, nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "start server") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		short, cancel := context.WithTimeoutCause(ctx, 300*time.Millisecond, errors.New("timed out"))
		defer cancel()
		start := time.Now()
		_, err := FetchStdio(short, []string{"sleep", "30"}, nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("err = %v, want timed out", err)
		}
		// sleep ignores stdin closing; SIGTERM stops it.
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("took %v to give up and stop the child", d)
		}
	})
}

// fakeHTTPServer is a streamable HTTP MCP server: it answers initialize
// with JSON and a session id, tools/list pages with SSE (a ping request and
// a notification before the response), checks the session and protocol
// headers, and records the DELETE at the end.
type fakeHTTPServer struct {
	mu      sync.Mutex
	deleted bool
	pinged  bool
	auth    []string
}

func (f *fakeHTTPServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	if r.Method == http.MethodDelete {
		f.mu.Lock()
		f.deleted = r.Header.Get("Mcp-Session-Id") == "sess-1"
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") || !strings.Contains(r.Header.Get("Accept"), "application/json") {
		http.Error(w, "bad Accept", http.StatusNotAcceptable)
		return
	}
	var m message
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	if m.Method != "initialize" {
		if r.Header.Get("Mcp-Session-Id") != "sess-1" || r.Header.Get("MCP-Protocol-Version") != ProtocolVersion {
			http.Error(w, "missing session or protocol header", http.StatusBadRequest)
			return
		}
	}
	switch {
	case m.Method == "initialize":
		w.Header().Set("Mcp-Session-Id", "sess-1")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": map[string]any{
			"protocolVersion": ProtocolVersion, "serverInfo": map[string]string{"name": "fake-http", "version": "2"}, "capabilities": map[string]any{},
		}})
	case m.Method == "" && string(m.ID) == `"srv-ping"`:
		f.mu.Lock()
		f.pinged = m.Result != nil
		f.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	case m.Method == "tools/list":
		var p struct {
			Cursor string `json:"cursor"`
		}
		json.Unmarshal(m.Params, &p)
		page := 0
		fmt.Sscanf(p.Cursor, "page-%d", &page)
		res := map[string]any{"tools": fakePages[page]}
		if page+1 < len(fakePages) {
			res["nextCursor"] = fmt.Sprintf("page-%d", page+1)
		}
		resp, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": m.ID, "result": res})
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, ": comment\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n")
		if page == 0 {
			fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":\"srv-ping\",\"method\":\"ping\"}\n\n")
		}
		fmt.Fprintf(w, "id: 7\nevent: message\ndata: %s\n\n", resp)
	default:
		w.WriteHeader(http.StatusAccepted)
	}
}

func TestFetchHTTP(t *testing.T) {
	f := &fakeHTTPServer{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	header := http.Header{"Authorization": {"Bearer s3cret"}}
	inv, err := FetchHTTP(ctx, srv.URL+"/mcp?token=abc", header, srv.Client(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"list_items", "get_item", "delete_item", "create_charge"}
	if diff := cmp.Diff(want, toolNames(inv.Tools)); diff != "" {
		t.Errorf("tools (-want +got):\n%s", diff)
	}
	if strings.Contains(inv.Server.Source, "abc") || strings.Contains(inv.Server.Source, "s3cret") {
		t.Errorf("source %q leaks a secret", inv.Server.Source)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.deleted {
		t.Error("session was not deleted at the end")
	}
	if !f.pinged {
		t.Error("server's ping was not answered")
	}
	if slices.ContainsFunc(f.auth, func(a string) bool { return a != "Bearer s3cret" }) {
		t.Errorf("not every request carried the header: %q", f.auth)
	}
}

func TestFetchHTTPErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	t.Run("unreachable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		_, err = FetchHTTP(ctx, "http://"+addr+"/mcp?key=k3y", nil, nil, Options{})
		// The transport's own answer to a request it could not deliver is
		// not an error of the server's.
		if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), addr) ||
			strings.Contains(err.Error(), "k3y") || errors.Is(err, ErrServer) {
			t.Errorf("err = %v, want connection refused naming %s (no query), not ErrServer", err, addr)
		}
	})
	t.Run("http status", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "invalid token", http.StatusUnauthorized)
		}))
		defer srv.Close()
		_, err := FetchHTTP(ctx, srv.URL, nil, nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "invalid token") || errors.Is(err, ErrServer) {
			t.Errorf("err = %v", err)
		}
	})
	// A server that echoes the credentials in its error page: the quoted
	// page never carries them, nor the token alone.
	t.Run("http status echoing the header", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "bad credentials: "+r.Header.Get("Authorization")+" (token "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")+")", http.StatusForbidden)
		}))
		defer srv.Close()
		_, err := FetchHTTP(ctx, srv.URL, http.Header{"Authorization": {"Bearer s3cr3t-t0ken"}}, nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "403") || !strings.Contains(err.Error(), "bad credentials") || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("err = %v, want the 403 quoted without the token", err)
		}
	})
	// A server that redirects to another origin gets nothing there: the
	// header (an API key that Go's client would carry along) never leaves
	// the origin it was given for.
	t.Run("redirect to another origin", func(t *testing.T) {
		var leaked atomic.Int32
		other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Api-Key") != "" {
				leaked.Add(1)
			}
			http.Error(w, "nothing here", http.StatusNotFound)
		}))
		defer other.Close()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, other.URL+"/mcp", http.StatusTemporaryRedirect)
		}))
		defer srv.Close()
		_, err := FetchHTTP(ctx, srv.URL, http.Header{"X-Api-Key": {"k3y-value"}}, nil, Options{})
		if err == nil || leaked.Load() != 0 || strings.Contains(err.Error(), "k3y-value") {
			t.Errorf("err = %v; the other origin saw the key %d time(s)", err, leaked.Load())
		}
	})
	// A server that forges the transport's own wording is still a server
	// answering with an error.
	t.Run("forged transport error", func(t *testing.T) {
		var srvURL string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"upstream %s: connection refused"}}`, srvURL)
		}))
		defer srv.Close()
		srvURL = srv.URL
		_, err := FetchHTTP(ctx, srv.URL, nil, nil, Options{})
		if !errors.Is(err, ErrServer) {
			t.Errorf("err = %v, want ErrServer", err)
		}
	})
	t.Run("not found, nor legacy", func(t *testing.T) {
		var gets atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				gets.Add(1)
			}
			http.NotFound(w, r)
		}))
		defer srv.Close()
		_, err := FetchHTTP(ctx, srv.URL+"/mcp", nil, nil, Options{})
		if err == nil || !strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "legacy HTTP+SSE") || gets.Load() != 1 {
			t.Errorf("err = %v after %d GETs, want both transports' 404s after one", err, gets.Load())
		}
	})
	t.Run("unauthorized is not a legacy server", func(t *testing.T) {
		var gets atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				gets.Add(1)
			}
			http.Error(w, "invalid token", http.StatusUnauthorized)
		}))
		defer srv.Close()
		_, err := FetchHTTP(ctx, srv.URL, nil, nil, Options{})
		if err == nil || strings.Contains(err.Error(), "legacy") || gets.Load() != 0 {
			t.Errorf("err = %v after %d GETs, want no legacy attempt", err, gets.Load())
		}
	})
	t.Run("json-rpc error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"unsupported protocol version"}}`)
		}))
		defer srv.Close()
		_, err := FetchHTTP(ctx, srv.URL, nil, nil, Options{})
		if !errors.Is(err, ErrServer) || !strings.Contains(err.Error(), "unsupported protocol version") {
			t.Errorf("err = %v", err)
		}
	})
}

func TestParseToolsFile(t *testing.T) {
	ok := []string{
		`{"tools":[{"name":"a"}]}`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}`,
		`[{"name":"a"}]`,
	}
	for _, in := range ok {
		tools, err := ParseToolsFile([]byte(in))
		if err != nil || len(tools) != 1 || tools[0].Name != "a" {
			t.Errorf("ParseToolsFile(%s) = %v, %v", in, tools, err)
		}
	}
	bad := map[string]string{
		``:                                       "empty",
		`{"result":{}}`:                          `no "tools" array`,
		`{"tools":[{"name":"a"},{"name":"a"}]}`:  "listed twice",
		`{"tools":[{"description":"x"}]}`:        "no name",
		`{"tools": [`:                            "parse tools file",
		`{"error":{"code":-1,"message":"boom"}}`: "boom",
		`"tools"`:                                "not a JSON object",
	}
	for in, want := range bad {
		if _, err := ParseToolsFile([]byte(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseToolsFile(%q) error = %v, want %q", in, err, want)
		}
	}
}
