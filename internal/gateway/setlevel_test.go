package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// heldSetLevelDialer serves a server on an in-memory pipe that answers
// initialize and tools/list at once, and logging/setLevel only once
// release is closed.
func heldSetLevelDialer(release <-chan struct{}) transport.Dialer {
	return pipeServer(func(f []byte, reply func([]byte)) {
		m, err := jsonrpc.Parse(f, false)
		if err != nil || !m.IsRequest() {
			return
		}
		id := clone(m.ID)
		switch m.Method {
		case "initialize":
			reply(jsonrpc.AppendResult(nil, id, []byte(`{"protocolVersion":"2025-06-18","capabilities":{"logging":{},"tools":{}},"serverInfo":{"name":"held","version":"1"}}`)))
		case "tools/list":
			reply(jsonrpc.AppendResult(nil, id, []byte(`{"tools":[]}`)))
		case "logging/setLevel":
			go func() {
				<-release
				reply(jsonrpc.AppendResult(nil, id, []byte(`{}`)))
			}()
		default:
			reply(jsonrpc.AppendResult(nil, id, []byte(`{}`)))
		}
	})
}

// The client's logging/setLevel is answered only once the servers have
// answered theirs: a call the client sends after the answer must find the
// level set, or the server drops the call's log messages.
func TestSetLevelAnsweredAfterTheServers(t *testing.T) {
	release := make(chan struct{})
	g, err := New([]*Server{{Name: "a", Prefix: "a", Gate: allowAll(t), Dial: heldSetLevelDialer(release)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	client := servePipe(t, g)

	received := frames(client)
	answer := func(id string, within time.Duration) (string, bool) {
		t.Helper()
		deadline := time.After(within)
		for {
			select {
			case f, ok := <-received:
				if !ok {
					t.Fatal("the gateway ended the session")
				}
				if strings.Contains(f, `"id":`+id+`,`) {
					return f, true
				}
			case <-deadline:
				return "", false
			}
		}
	}
	_ = client.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	if _, ok := answer("1", 10*time.Second); !ok {
		t.Fatal("no answer to initialize")
	}
	_ = client.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	_ = client.Write([]byte(`{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"info"}}`))
	if f, ok := answer("2", 300*time.Millisecond); ok {
		t.Fatalf("logging/setLevel answered while the server still held it: %s", f)
	}
	close(release)
	if f, ok := answer("2", 10*time.Second); !ok || !strings.Contains(f, `"result":{}`) {
		t.Fatalf("logging/setLevel after the server answered: %q", f)
	}
}
