package gateway

import (
	"context"
	"strconv"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/bench/echo"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// echoDialer serves the bench's echo server on an in-memory pipe.
func echoDialer(b testing.TB) transport.Dialer {
	srv, err := echo.New(echo.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return pipeServer(func(f []byte, reply func([]byte)) {
		if out := srv.Handle(f); out != nil {
			reply(out)
		}
	})
}

// pipeServer serves a server on an in-memory pipe: serve is given each
// frame the gateway sends, in order, and reply writes to the gateway.
func pipeServer(serve func(frame []byte, reply func([]byte))) transport.Dialer {
	return transport.DialFunc(func(context.Context, *transport.Session) (transport.Conn, func(), error) {
		ours, theirs := pipe()
		reply := func(f []byte) { _ = theirs.Write(f) }
		go func() {
			for {
				f, err := theirs.Read()
				if err != nil {
					return
				}
				serve(f, reply)
			}
		}()
		return ours, func() { theirs.Close() }, nil
	})
}

// keep16 sends calls through conn, 16 in flight, b.N in all.
func keep16(b *testing.B, client transport.Conn, name string) {
	call := func(i int) []byte {
		return []byte(`{"jsonrpc":"2.0","id":` + strconv.Itoa(i) + `,"method":"tools/call","params":{"name":"` + name + `","arguments":{"message":"hello"}}}`)
	}
	_ = client.Write([]byte(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`))
	if _, err := client.Read(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for ; sent < 16 && sent < b.N; sent++ {
		_ = client.Write(call(sent))
	}
	for got := 0; got < b.N; got++ {
		if _, err := client.Read(); err != nil {
			b.Fatal(err)
		}
		if sent < b.N {
			_ = client.Write(call(sent))
			sent++
		}
	}
	b.StopTimer()
}

// BenchmarkGatewayCall is a tools/call through the gateway over one echo
// server, 16 in flight, beside BenchmarkPumpCall, the same through the pump
// alone (what tollgate run relays with).
func BenchmarkGatewayCall(b *testing.B) {
	g, err := New([]*Server{{Name: "bench", Gate: allowAll(b), Dial: echoDialer(b)}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	client, front := pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(ctx, &transport.Session{ID: "b"}, front, nil) }()
	keep16(b, client, "bench__echo")
	cancel()
	<-done
}

func BenchmarkPumpCall(b *testing.B) {
	up, _, err := echoDialer(b).Dial(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	client, front := pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = proxy.NewHandler(allowAll(b), nil).Serve(ctx, &transport.Session{ID: "b"}, front, up)
	}()
	keep16(b, client, "echo")
	cancel()
	<-done
}
