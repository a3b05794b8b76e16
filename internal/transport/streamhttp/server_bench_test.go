package streamhttp

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"

	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

const benchInit = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`

func benchCall(id int) string {
	return `{"jsonrpc":"2.0","id":` + strconv.Itoa(id) + `,"method":"tools/call","params":{"name":"test_simple_text","arguments":{}}}`
}

// BenchmarkToolsCallDirect is the baseline: one tools/call written to the
// Go everything-server's stdin and its answer read back, no Tollgate.
func BenchmarkToolsCallDirect(b *testing.B) {
	server := mcptest.Peer(b, "everything-server")
	child, err := stdio.StartChild(context.Background(), []string{server}, stdio.ChildOptions{Stderr: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	defer child.Stop(2 * time.Second)
	conn := child.Conn()
	roundTrip := func(frame string, id []byte) {
		if err := conn.Write([]byte(frame)); err != nil {
			b.Fatal(err)
		}
		for {
			f, err := conn.Read()
			if err != nil {
				b.Fatal(err)
			}
			if m, err := jsonrpc.Parse(f, false); err == nil && m.IsResponse() && bytes.Equal(m.ID, id) {
				return
			}
		}
	}
	roundTrip(benchInit, []byte("0"))
	_ = conn.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		roundTrip(benchCall(i), []byte(strconv.Itoa(i)))
	}
}

// BenchmarkToolsCallHTTPFront is the same call POSTed to the HTTP front
// over the same server: HTTP, the session pump and the gate.
func BenchmarkToolsCallHTTPFront(b *testing.B) {
	for _, mode := range []string{"json", "sse"} {
		b.Run(mode, func(b *testing.B) {
			server := mcptest.Peer(b, "everything-server")
			pol, err := policy.Load("p.yaml", []byte("version: \"1\"\ndefault: allow\n"))
			if err != nil {
				b.Fatal(err)
			}
			front := NewServer(ServerOptions{Handler: proxy.NewHandler(gate.New(pol), nil), Upstream: transport.DialFunc(func(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
				ch, err := stdio.StartChild(ctx, []string{server}, stdio.ChildOptions{Stderr: io.Discard})
				if err != nil {
					return nil, nil, err
				}
				return ch.Conn(), func() { ch.Stop(2 * time.Second) }, nil
			})})
			defer front.Close()
			hs := newHTTPTest(b, front)
			c := newFrontClient(b, hs.URL)
			c.json = mode == "json"
			c.initialize("2025-11-25")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 1; i <= b.N; i++ {
				resp := c.post(benchCall(i))
				a, _ := readAnswer(b, resp)
				if !strings.Contains(string(a), `"id":`+strconv.Itoa(i)+`,`) && !strings.Contains(string(a), `"id":`+strconv.Itoa(i)+`}`) {
					b.Fatalf("answer %s", a)
				}
			}
		})
	}
}
