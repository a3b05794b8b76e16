package cli

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
	"github.com/tollgate-mcp/tollgate/internal/transport/streamhttp"
)

// echoServer is a minimal streamable HTTP MCP server: initialize opens a
// session, notifications get 202, every request is answered with JSON.
func echoServer() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m, err := jsonrpc.Parse(body, false)
		if err != nil || r.Method != http.MethodPost {
			http.Error(w, "no", http.StatusMethodNotAllowed)
			return
		}
		if !m.IsRequest() {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		result := []byte(`{"content":[{"type":"text","text":"echo"}]}`)
		if m.Method == "initialize" {
			w.Header().Set("Mcp-Session-Id", "bench")
			result = []byte(`{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"echo","version":"1"}}`)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(jsonrpc.AppendResult(nil, m.ID, result))
	}))
}

const benchInFlight = 16

func benchCall(id int) []byte {
	return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hello"}}}`, id)
}

// BenchmarkBridge compares 16 calls in flight sent straight to an HTTP MCP
// server with the same load through Tollgate's bridge (stdio front, policy
// gate, streamable HTTP client); the ratio of the two ns/op is the bridge's
// throughput relative to direct.
func BenchmarkBridge(b *testing.B) {
	srv := echoServer()
	defer srv.Close()

	b.Run("direct", func(b *testing.B) {
		client := streamhttp.NewHTTPClient(0, 0)
		var next atomic.Int64
		var wg sync.WaitGroup
		b.ReportAllocs()
		b.ResetTimer()
		for range benchInFlight {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					id := next.Add(1)
					if id > int64(b.N) {
						return
					}
					req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(benchCall(int(id))))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Accept", "application/json, text/event-stream")
					req.Header.Set("Mcp-Session-Id", "bench")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}()
		}
		wg.Wait()
	})

	b.Run("tollgate", func(b *testing.B) {
		pol, err := policy.Load("bench.yaml", []byte("version: \"1\"\ndefault: allow\n"))
		if err != nil {
			b.Fatal(err)
		}
		upstream, err := streamhttp.Dial(context.Background(), srv.URL, streamhttp.ClientOptions{})
		if err != nil {
			b.Fatal(err)
		}
		defer upstream.Close()
		inR, inW := io.Pipe()   // the agent writes Tollgate's stdin
		outR, outW := io.Pipe() // and reads its stdout
		h := proxy.NewHandler(gate.New(pol), nil)
		done := make(chan error, 1)
		go func() {
			done <- h.Serve(context.Background(), &transport.Session{ID: "bench"}, stdio.NewConn(inR, outW, jsonrpc.DefaultMaxFrame), upstream)
		}()
		out := bufio.NewReader(outR)
		send := func(f []byte) {
			if _, err := inW.Write(append(f, '\n')); err != nil {
				b.Fatal(err)
			}
		}
		send([]byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`))
		if _, err := out.ReadBytes('\n'); err != nil {
			b.Fatal(err)
		}
		send([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))

		slots := make(chan struct{}, benchInFlight)
		b.ReportAllocs()
		b.ResetTimer()
		go func() {
			for i := 1; i <= b.N; i++ {
				slots <- struct{}{}
				if _, err := inW.Write(append(benchCall(i), '\n')); err != nil {
					return
				}
			}
		}()
		for i := 0; i < b.N; i++ {
			line, err := out.ReadBytes('\n')
			if err != nil {
				b.Fatal(err)
			}
			if !bytes.Contains(line, []byte(`"echo"`)) {
				b.Fatalf("unexpected answer %s", line)
			}
			<-slots
		}
		b.StopTimer()
		inW.Close()
		go io.Copy(io.Discard, outR)
		<-done
		outW.Close()
	})
}
