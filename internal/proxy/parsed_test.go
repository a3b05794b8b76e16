package proxy_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// handingConn is a client conn that hands the pump a parse with each
// frame (transport.ParsedReader), as the gateway's router does.
type handingConn struct {
	in   chan [2]any // frame, *jsonrpc.Message
	mu   sync.Mutex
	out  []string
	done chan struct{}
	once sync.Once
}

func (c *handingConn) ReadParsed() ([]byte, *jsonrpc.Message, error) {
	select {
	case e := <-c.in:
		return e[0].([]byte), e[1].(*jsonrpc.Message), nil
	case <-c.done:
		return nil, nil, transport.ErrClosed
	}
}

func (c *handingConn) Read() ([]byte, error) {
	f, _, err := c.ReadParsed()
	return f, err
}

func (c *handingConn) Write(frame []byte) error {
	c.mu.Lock()
	c.out = append(c.out, string(frame))
	c.mu.Unlock()
	return nil
}

func (c *handingConn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

func (c *handingConn) written() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.out...)
}

// TestPumpTakesOnlyTheFramesOwnParse: a parse handed with a frame is used
// when it is that frame's (the router's, moved onto its edit), and never
// when it is another's: a call of a denied tool handed with the parse of
// an allowed one is judged by what the frame says.
func TestPumpTakesOnlyTheFramesOwnParse(t *testing.T) {
	pol, err := policy.Load("p.yaml", []byte("version: \"1\"\ntools:\n  drop_table:\n    rules:\n      - name: never\n        action: deny\n        on_deny: \"No\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	fs := newFakeServer(t, nil)
	client := &handingConn{in: make(chan [2]any), done: make(chan struct{})}
	srvConn := stdio.NewConn(fs.out, fs.in, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	served := make(chan error, 1)
	go func() {
		served <- proxy.NewHandler(gate.New(pol), nil).Serve(ctx, &transport.Session{ID: "s"}, client, srvConn)
	}()
	hand := func(frame string, pre *jsonrpc.Message) {
		select {
		case client.in <- [2]any{[]byte(frame), pre}:
		case <-ctx.Done():
			t.Fatal("the pump does not read")
		}
	}
	parse := func(frame string) *jsonrpc.Message {
		m, err := jsonrpc.Parse([]byte(frame), true)
		if err != nil {
			t.Fatal(err)
		}
		return &m
	}
	denied := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"drop_table","arguments":{}}}`
	allowed := parse(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_table","arguments":{}}}`)
	hand(denied, allowed) // another frame's parse: not taken
	waitFor := func(n int, what string) []string {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			if w := client.written(); len(w) >= n {
				return w
			}
			if ctx.Err() != nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("no answer: %s", what)
		return nil
	}
	if w := waitFor(1, "the denied call"); !strings.Contains(w[0], "[POLICY DENIED] No") {
		t.Fatalf("a denied call handed with another frame's parse: %s", w[0])
	}

	// The frame's own parse is taken: shown by one whose method was
	// changed to a notification's (no id), which the pump then drops
	// without an answer, where a parse of its own would answer the call.
	frame := []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"drop_table","arguments":{}}}`)
	own, err := jsonrpc.Parse(frame, true)
	if err != nil {
		t.Fatal(err)
	}
	own.ID = nil
	select {
	case client.in <- [2]any{frame, &own}:
	case <-ctx.Done():
		t.Fatal("the pump does not read")
	}
	hand(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"drop_table","arguments":{}}}`, nil)
	w := waitFor(2, "the call after")
	if len(w) != 2 || !strings.Contains(w[1], `"id":3`) {
		t.Errorf("the frame's own parse was not taken: the client got %q", w)
	}
	_ = client.Close()
	<-served
}
