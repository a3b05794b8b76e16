package streamhttp

import (
	"bytes"
	"context"
	"net/http/httptest"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/bench/echo"
	"github.com/tollgate-mcp/tollgate/internal/bench/load"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// frontInFlight is the load of the bench.sh row "HTTP front → HTTP
// upstream": 16 calls in flight.
const frontInFlight = 16

// BenchmarkFrontHTTPToHTTP is the bench.sh row "HTTP front → HTTP
// upstream" in one process: 16 calls in flight from the load client's
// streamable HTTP client, straight to the echo server (direct) or through
// the HTTP front, the session relay and the streamable HTTP client
// (tollgate). The ratio of the two ns/op is the front's throughput
// relative to direct; allocs/op of tollgate include the echo server's and
// the load client's, which direct measures alone.
func BenchmarkFrontHTTPToHTTP(b *testing.B) {
	es, err := echo.New(echo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer es.Close()
	up := httptest.NewServer(es.Handler())
	defer up.Close()

	b.Run("direct", func(b *testing.B) { runFrontLoad(b, up.URL) })
	b.Run("tollgate", func(b *testing.B) {
		pol, err := policy.Load("bench.yaml", []byte("version: \"1\"\ndefault: allow\n"))
		if err != nil {
			b.Fatal(err)
		}
		front := NewServer(ServerOptions{Handler: proxy.NewHandler(gate.New(pol), nil), Upstream: transport.DialFunc(func(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
			c, err := Dial(ctx, up.URL, ClientOptions{})
			return c, nil, err
		})})
		defer front.Close()
		// The front's goroutines (and the client's, which its pumps
		// start) carry the label side=tollgate, so that a CPU profile
		// tells them from the load client's and the echo server's:
		// go tool pprof -tagfocus side=tollgate.
		hs := httptest.NewUnstartedServer(front)
		pprof.Do(context.Background(), pprof.Labels("side", "tollgate"), func(context.Context) { hs.Start() })
		defer hs.Close()
		runFrontLoad(b, hs.URL)
	})
}

// runFrontLoad initializes a session at url and runs b.N echo calls over
// it, frontInFlight at a time, checking every answer's id.
func runFrontLoad(b *testing.B, url string) {
	ctx := context.Background()
	c := load.NewHTTP(url, frontInFlight)
	if err := load.Initialize(ctx, c); err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	for range frontInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id := next.Add(1)
				if id > int64(b.N) {
					return
				}
				n := strconv.FormatInt(id, 10)
				resp, err := c.Do(ctx, id, []byte(`{"jsonrpc":"2.0","id":`+n+`,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}`))
				if err != nil {
					b.Error(err)
					return
				}
				if !bytes.Contains(resp, []byte(`"id":`+n+`,`)) {
					b.Errorf("call %d answered %s", id, resp)
					return
				}
			}
		}()
	}
	wg.Wait()
}
