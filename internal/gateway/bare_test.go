package gateway_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tollgate-mcp/tollgate/internal/gateway"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// A server with prefix "" is served under its own names, beside prefixed
// ones; a name no prefix starts goes to it, and nothing else does.
func TestGatewayUnprefixedServer(t *testing.T) {
	cfg, err := gateway.Load(filepath.Join(t.TempDir(), "g.yaml"), []byte("servers:\n  plain: {command: [x], prefix: \"\"}\n  one: {command: [y]}\n"))
	if err != nil {
		t.Fatalf("load prefix \"\": %v", err)
	}
	if cfg.Servers[0].Prefix != "" || cfg.Servers[1].Prefix != "one" {
		t.Fatalf("prefixes %q %q", cfg.Servers[0].Prefix, cfg.Servers[1].Prefix)
	}
	plain := &sdkServer{t: t, tool: "hello"}
	one := &sdkServer{t: t, tool: "hello"}
	gw, err := gateway.New([]*gateway.Server{
		{Name: "plain", Bare: true, Gate: allowGate(t, "version: \"1\"\n"), Dial: plain},
		{Name: "one", Gate: allowGate(t, "version: \"1\"\n"), Dial: one},
	}, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cs, served, cancel := serveSDK(t, gw, nil)
	defer cancel()
	if got := listNames(t, cs); !slices.Equal(got, []string{"hello", "one__hello"}) {
		t.Fatalf("tools: %v", got)
	}
	for _, name := range []string{"hello", "one__hello"} {
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: map[string]any{}})
		if err != nil || res.IsError {
			t.Errorf("call %s: %v %+v", name, err, res)
		}
	}
	// Names no server lists: the bare server must not be reached under a
	// name that reads as another server's, nor under an empty name.
	for _, name := range []string{"one__nope", "two__hello", "nope", ""} {
		if _, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: map[string]any{}}); err == nil || !strings.Contains(err.Error(), "Unknown tool") {
			t.Errorf("call %q: %v, want unknown tool", name, err)
		}
	}
	cs.Close()
	<-served

	if _, err := gateway.New([]*gateway.Server{
		{Name: "a", Bare: true, Gate: allowGate(t, "version: \"1\"\n"), Dial: plain},
		{Name: "b", Bare: true, Gate: allowGate(t, "version: \"1\"\n"), Dial: one},
	}, gateway.Options{}); err == nil || !strings.Contains(err.Error(), `"a" and "b" both have no prefix`) {
		t.Errorf("two bare servers: %v", err)
	}
}

// An unprefixed server listing a name that another server's prefix starts
// fails start-up, naming both servers (with and without a gateway-wide
// gate); hiding that tool in its policy lets it start.
func TestGatewayUnprefixedCollisionAtStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hub    bool
		policy string
		fails  bool
	}{
		{"collides", false, "version: \"1\"\n", true},
		{"collides behind a gateway-wide gate", true, "version: \"1\"\n", true},
		{"hidden by its policy", false, "version: \"1\"\nhide: [one__hello]\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := gateway.Options{}
			if tc.hub {
				opts.Hub = allowGate(t, "version: \"1\"\n")
			}
			gw, err := gateway.New([]*gateway.Server{
				{Name: "plain", Bare: true, Gate: allowGate(t, tc.policy), Dial: &sdkServer{t: t, tool: "one__hello"}},
				{Name: "one", Gate: allowGate(t, "version: \"1\"\n"), Dial: &sdkServer{t: t, tool: "hello"}},
			}, opts)
			if err != nil {
				t.Fatal(err)
			}
			conn, tr, closeAll := pipes(t)
			defer closeAll()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			served := make(chan error, 1)
			go func() { served <- gw.Serve(ctx, &transport.Session{ID: "s"}, conn, nil) }()
			cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, tr, nil)
			if !tc.fails {
				if err != nil {
					t.Fatalf("connect: %v", err)
				}
				if got := listNames(t, cs); !slices.Equal(got, []string{"one__hello"}) {
					t.Errorf("tools: %v", got)
				}
				cs.Close()
				<-served
				return
			}
			if err == nil {
				cs.Close()
				t.Fatal("connected despite the collision")
			}
			for _, w := range []string{`"plain"`, `"one"`, `"one__hello"`} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("initialize error %q lacks %s", err, w)
				}
			}
			if err := <-served; !errors.Is(err, gateway.ErrCollision) {
				t.Errorf("serve: %v, want ErrCollision", err)
			}
		})
	}
}

// A collision that appears after start-up (the unprefixed server comes back
// with a name of another server's) leaves the name out of the merged list,
// logs it as an error, and calls under it still reach only the server whose
// prefix it carries.
func TestGatewayUnprefixedCollisionLater(t *testing.T) {
	plain := &sdkServer{t: t, tool: "fine"}
	one := &sdkServer{t: t, tool: "hello"}
	clk := &clock{}
	logs := &testLog{t: t}
	gw, err := gateway.New([]*gateway.Server{
		{Name: "plain", Bare: true, Gate: allowGate(t, "version: \"1\"\n"), Dial: plain},
		{Name: "one", Gate: allowGate(t, "version: \"1\"\n"), Dial: one},
	}, gateway.Options{StartupTimeout: time.Hour, After: clk.After, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	changed := make(chan struct{}, 16)
	cs, served, cancel := serveSDK(t, gw, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) { changed <- struct{}{} },
	})
	defer cancel()
	if got := listNames(t, cs); !slices.Equal(got, []string{"fine", "one__hello"}) {
		t.Fatalf("tools: %v", got)
	}
	plain.mu.Lock()
	plain.tool = "one__hello"
	kill := plain.kill
	plain.mu.Unlock()
	kill()
	<-changed // plain went
	mcptest.Eventually(t, 10*time.Second, func() bool { return clk.fire() > 0 }, "a restart is waiting")
	<-changed // plain is back
	if got := listNames(t, cs); !slices.Equal(got, []string{"one__hello"}) {
		t.Errorf("tools after plain came back with one__hello: %v", got)
	}
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "one__hello", Arguments: map[string]any{}})
	if err != nil || res.Content[0].(*sdk.TextContent).Text != "I am hello" {
		t.Errorf("one__hello reached %v %+v, want server one", err, res)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "name=one__hello") {
		t.Errorf("no error logged for the collision:\n%s", logs.String())
	}
	cs.Close()
	<-served
}

func serveSDK(t *testing.T, gw *gateway.Gateway, opts *sdk.ClientOptions) (*sdk.ClientSession, <-chan error, func()) {
	t.Helper()
	conn, tr, closeAll := pipes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, &transport.Session{ID: "s"}, conn, nil) }()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, opts).Connect(ctx, tr, nil)
	if err != nil {
		cancel()
		closeAll()
		t.Fatal(err)
	}
	return cs, served, func() { cancel(); closeAll() }
}

func listNames(t *testing.T, cs *sdk.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tool := range res.Tools {
		out = append(out, tool.Name)
	}
	return out
}
