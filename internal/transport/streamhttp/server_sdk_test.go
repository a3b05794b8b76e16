package streamhttp

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"

	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// sdkServer is a real MCP server, built with the Go SDK, that the front
// reaches over a pair of pipes exactly as it reaches a child's stdio. Its
// tools let a test see what ran: "count" counts its calls; "slow" answers
// only once the test releases it (or the call is cancelled).
type sdkServer struct {
	srv     *sdk.Server
	counted atomic.Int32 // calls of "count" that ran
	mu      sync.Mutex
	got     []byte        // every byte the server read, all sessions
	started chan struct{} // receives once per "slow" call that began
	release chan struct{} // closed to let "slow" calls answer
}

type noArgs struct{}

func newSDKServer() *sdkServer {
	s := &sdkServer{started: make(chan struct{}, 16), release: make(chan struct{})}
	s.srv = sdk.NewServer(&sdk.Implementation{Name: "sdk-test", Version: "1"}, nil)
	text := func(t string) *sdk.CallToolResult {
		return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: t}}}
	}
	sdk.AddTool(s.srv, &sdk.Tool{Name: "count", Description: "counts its calls"},
		func(ctx context.Context, _ *sdk.CallToolRequest, _ noArgs) (*sdk.CallToolResult, any, error) {
			return text("call " + strconv.Itoa(int(s.counted.Add(1)))), nil, nil
		})
	sdk.AddTool(s.srv, &sdk.Tool{Name: "slow", Description: "answers when released"},
		func(ctx context.Context, _ *sdk.CallToolRequest, _ noArgs) (*sdk.CallToolResult, any, error) {
			s.started <- struct{}{}
			select {
			case <-s.release:
				return text("slow done"), nil, nil
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
		})
	return s
}

// upstream is a streamhttp.UpstreamFunc: a new SDK server session over
// pipes, ended when the pump closes its side.
func (s *sdkServer) upstream(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
	toServerR, toServerW := io.Pipe()
	fromServerR, fromServerW := io.Pipe()
	ss, err := s.srv.Connect(context.WithoutCancel(ctx), &sdk.IOTransport{Reader: tap{toServerR, s}, Writer: fromServerW}, nil)
	if err != nil {
		return nil, nil, err
	}
	release := func() {
		_ = ss.Close()
		_ = fromServerR.Close()
	}
	return stdio.NewConn(fromServerR, toServerW, 0), release, nil
}

// tap records what the server reads.
type tap struct {
	io.ReadCloser
	s *sdkServer
}

func (t tap) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	t.s.mu.Lock()
	t.s.got = append(t.s.got, p[:n]...)
	t.s.mu.Unlock()
	return n, err
}

// received counts the messages for method the server read (whatever it
// then did with them: the Go SDK ignores a tools/call without an id, a
// server dispatching on the method alone would run it).
func (s *sdkServer) received(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Count(s.got, []byte(`"method":"`+method+`"`))
}

// gateOpt sets up the gate of a front made by newSDKFront.
type gateOpt func(*gate.Gate)

// newSDKFront serves a streamable HTTP front over a Go SDK server under the
// given policy (testPolicy when empty). A gateOpt among opts sets up the
// gate; the others set the front's options.
func newSDKFront(t testing.TB, pol string, opts ...any) (*httptest.Server, *sdkServer, *Server) {
	t.Helper()
	if pol == "" {
		pol = testPolicy
	}
	p, err := policy.Load("test.yaml", []byte(pol))
	if err != nil {
		t.Fatal(err)
	}
	srv := newSDKServer()
	g := gate.New(p)
	g.Store = memstore.New()
	o := ServerOptions{Upstream: transport.DialFunc(srv.upstream)}
	for _, opt := range opts {
		switch fn := opt.(type) {
		case frontOpt:
			fn(&o)
		case func(*ServerOptions):
			fn(&o)
		case gateOpt:
			fn(g)
		default:
			t.Fatalf("newSDKFront: option of type %T", opt)
		}
	}
	o.Handler = proxy.NewHandler(g, nil)
	front := NewServer(o)
	hs := httptest.NewServer(front)
	t.Cleanup(func() {
		front.Close()
		hs.Close()
	})
	return hs, srv, front
}
