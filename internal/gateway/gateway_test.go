package gateway_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/gateway"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// These tests run the gateway in the test process (so the race detector
// sees the router) over Go SDK servers and a Go SDK client joined to it by
// OS pipes, with an injected clock for restarts.

// pipes returns a stdio Conn for Tollgate's side and the Go SDK transport
// for the peer's side of two OS pipes; closing either side ends both.
func pipes(t *testing.T) (*stdio.Conn, *sdk.IOTransport, func()) {
	t.Helper()
	r1, w1, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	r2, w2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	closeAll := func() {
		for _, f := range []*os.File{r1, w1, r2, w2} {
			f.Close()
		}
	}
	return stdio.NewConn(r1, w2, jsonrpc.DefaultMaxFrame), &sdk.IOTransport{Reader: r2, Writer: w1}, closeAll
}

// sdkServer is an in-process Go SDK server with a tool named tool; every
// Dial starts a fresh session of it, unless fail says no.
type sdkServer struct {
	t     *testing.T
	tool  string
	mu    sync.Mutex
	fail  bool
	dials int
	kill  func() // ends the current session
}

func (s *sdkServer) Dial(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dials++
	if s.fail {
		return nil, nil, errors.New("start server: refused by the test")
	}
	conn, tr, closeAll := pipes(s.t)
	srv := sdk.NewServer(&sdk.Implementation{Name: s.tool, Version: "1"}, nil)
	name := s.tool
	sdk.AddTool(srv, &sdk.Tool{Name: name, Description: "says its name"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "I am " + name}}}, nil, nil
	})
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Run(sctx, tr)
	}()
	stop := func() {
		cancel()
		closeAll()
		<-done
	}
	s.kill = stop
	return conn, stop, nil
}

func (s *sdkServer) set(fail bool) (kill func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
	return s.kill
}

// clock hands out the delays the gateway asks for and fires them when the
// test says.
type clock struct {
	mu     sync.Mutex
	asked  []time.Duration
	timers []chan time.Time
}

func (c *clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d >= time.Minute { // the startup and drain bounds: never fire
		return ch
	}
	c.asked = append(c.asked, d)
	c.timers = append(c.timers, ch)
	return ch
}

func (c *clock) fire() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.timers {
		ch <- time.Now()
	}
	n := len(c.timers)
	c.timers = nil
	return n
}

func (c *clock) delays() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.asked)
}

// serveOne serves one session of gw ("s") to a Go SDK client over OS
// pipes. end closes the client and waits for the session to end; the
// session ends by itself after a minute.
func serveOne(t *testing.T, gw *gateway.Gateway) (ctx context.Context, cs *sdk.ClientSession, end func()) {
	t.Helper()
	conn, tr, closeAll := pipes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, &transport.Session{ID: "s"}, conn, nil) }()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, nil).Connect(ctx, tr, nil)
	if err != nil {
		cancel()
		closeAll()
		t.Fatal(err)
	}
	return ctx, cs, func() {
		cs.Close()
		cancel()
		<-served
		closeAll()
	}
}

func allowGate(t *testing.T, src string) *gate.Gate {
	t.Helper()
	p, err := policy.Load("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return gate.New(p)
}

func TestGatewayRestartsWithBackoff(t *testing.T) {
	one := &sdkServer{t: t, tool: "hello"}
	two := &sdkServer{t: t, tool: "hello"}
	clk := &clock{}
	gw, err := gateway.New([]*gateway.Server{
		{Name: "one", Gate: allowGate(t, "version: \"1\"\n"), Dial: one},
		{Name: "two", Gate: allowGate(t, "version: \"1\"\n"), Dial: two},
	}, gateway.Options{MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, StartupTimeout: time.Hour, After: clk.After})
	if err != nil {
		t.Fatal(err)
	}
	conn, tr, closeAll := pipes(t)
	defer closeAll()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- gw.Serve(ctx, &transport.Session{ID: "s"}, conn, nil) }()

	changed := make(chan struct{}, 16)
	client := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) { changed <- struct{}{} },
	})
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tool := range res.Tools {
			out = append(out, tool.Name)
		}
		return out
	}
	if got := names(); !slices.Equal(got, []string{"one__hello", "two__hello"}) {
		t.Fatalf("tools: %v", got)
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "two__hello", Arguments: map[string]any{}})
	if err != nil || res.Content[0].(*sdk.TextContent).Text != "I am hello" {
		t.Fatalf("call: %v %+v", err, res)
	}

	// two dies and cannot start again: its tool goes, one keeps serving,
	// and each restart waits twice as long, up to the cap.
	kill := two.set(true)
	kill()
	<-changed
	if got := names(); !slices.Equal(got, []string{"one__hello"}) {
		t.Errorf("tools while two is down: %v", got)
	}
	for range 4 {
		mcptest.Eventually(t, 10*time.Second, func() bool { return clk.fire() > 0 }, "a restart is waiting")
	}
	mcptest.Eventually(t, 10*time.Second, func() bool { return len(clk.delays()) >= 5 }, "five restart delays asked")
	if got, want := clk.delays()[:5], []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("restart delays %v, want %v", got, want)
	}
	if _, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "one__hello", Arguments: map[string]any{}}); err != nil {
		t.Errorf("one while two is down: %v", err)
	}

	// two can start again: the next restart brings its tool back.
	two.set(false)
	mcptest.Eventually(t, 10*time.Second, func() bool { return clk.fire() > 0 }, "a restart is waiting")
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("no list_changed when two came back")
	}
	if got := names(); !slices.Equal(got, []string{"one__hello", "two__hello"}) {
		t.Errorf("tools after the restart: %v", got)
	}
	cs.Close()
	if err := <-served; err != nil && !errors.Is(err, io.EOF) {
		t.Errorf("serve: %v", err)
	}
}

// A gateway-wide gate sees the namespaced names: a rule on one server's
// tool leaves the same tool of another server alone, and a hidden
// namespaced name is answered as an unknown one.
func TestGatewayHub(t *testing.T) {
	one := &sdkServer{t: t, tool: "hello"}
	two := &sdkServer{t: t, tool: "hello"}
	hub := allowGate(t, `version: "1"
hide: [two__hello]
tools:
  one__hello:
    rules:
      - name: not one
        action: deny
        on_deny: "one is closed"
`)
	gw, err := gateway.New([]*gateway.Server{
		{Name: "one", Gate: allowGate(t, "version: \"1\"\n"), Dial: one},
		{Name: "two", Gate: allowGate(t, "version: \"1\"\n"), Dial: two},
	}, gateway.Options{Hub: hub})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cs, end := serveOne(t, gw)
	defer end()
	res, err := cs.ListTools(ctx, nil)
	if err != nil || len(res.Tools) != 1 || res.Tools[0].Name != "one__hello" {
		t.Fatalf("tools: %v %+v", err, res)
	}
	call, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "one__hello", Arguments: map[string]any{}})
	if err != nil || !call.IsError || !strings.Contains(call.Content[0].(*sdk.TextContent).Text, "one is closed") {
		t.Errorf("one__hello: %v %+v", err, call)
	}
	_, hidden := cs.CallTool(ctx, &sdk.CallToolParams{Name: "two__hello", Arguments: map[string]any{}})
	for _, name := range []string{"three__hello", "two__nope", "one__nope"} {
		_, missing := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: map[string]any{}})
		if hidden == nil || missing == nil || strings.ReplaceAll(hidden.Error(), "two__hello", name) != missing.Error() {
			t.Errorf("hidden two__hello: %v; missing %s: %v", hidden, name, missing)
		}
	}
}

// hungServer answers initialize and nothing else.
func hungServer(t *testing.T) transport.Dialer {
	return transport.DialFunc(func(context.Context, *transport.Session) (transport.Conn, func(), error) {
		conn, tr, closeAll := pipes(t)
		go func() {
			sc := bufio.NewScanner(tr.Reader)
			for sc.Scan() {
				m, err := jsonrpc.Parse(sc.Bytes(), false)
				if err == nil && m.Method == "initialize" {
					fmt.Fprintf(tr.Writer, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"hung","version":"1"}}}`+"\n", m.ID)
				}
			}
		}()
		return conn, closeAll, nil
	})
}

// A server that stops answering is left out of a merged list after
// RequestTimeout; the others are listed and called as before.
func TestGatewayHungServerLeftOut(t *testing.T) {
	good := &sdkServer{t: t, tool: "hello"}
	gw, err := gateway.New([]*gateway.Server{
		{Name: "good", Gate: allowGate(t, "version: \"1\"\n"), Dial: good},
		{Name: "hung", Gate: allowGate(t, "version: \"1\"\n"), Dial: hungServer(t)},
	}, gateway.Options{RequestTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cs, end := serveOne(t, gw)
	defer end()
	res, err := cs.ListTools(ctx, nil)
	if err != nil || len(res.Tools) != 1 || res.Tools[0].Name != "good__hello" {
		t.Fatalf("tools with one server hung: %v %+v", err, res)
	}
	if _, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "good__hello", Arguments: map[string]any{}}); err != nil {
		t.Errorf("good__hello: %v", err)
	}
}
