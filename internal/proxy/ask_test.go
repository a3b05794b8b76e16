package proxy_test

import (
	"bufio"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// A server's request to the client that carries the id Tollgate would
// give its own request (an inline approval's elicitation) must not have the
// client's answer taken for the answer to Tollgate's: the answer goes to the
// server, and Tollgate's question stays open.
func TestServerCannotAnswerTollgatesOwnQuestion(t *testing.T) {
	pol, err := policy.Load("p.yaml", []byte("version: \"1\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	forged := `{"jsonrpc":"2.0","id":"tollgate-1","method":"elicitation/create","params":{"message":"ok?","requestedSchema":{"type":"object","properties":{}}}}`
	fs := newFakeServer(t, []string{"emit => " + forged})
	cr, cw := io.Pipe()
	pr, pw := io.Pipe()
	sess := &transport.Session{ID: "s1"}
	h := proxy.NewHandler(gate.New(pol), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Serve(ctx, sess, stdio.NewConn(cr, pw, 0), stdio.NewConn(fs.out, fs.in, 0)) }()
	lines := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-ctx.Done():
			t.Fatal("timed out reading from the pump")
			return ""
		}
	}
	if got := next(); got != forged {
		t.Fatalf("the server's request reached the client as %s", got)
	}
	askCtx, stopAsk := context.WithCancel(ctx)
	asked := make(chan error, 1)
	go func() {
		_, _, err := sess.Ask(askCtx, "elicitation/create", []byte(`{"message":"approve?","requestedSchema":{"type":"object","properties":{}}}`))
		asked <- err
	}()
	own := next()
	if !strings.Contains(own, `"method":"elicitation/create"`) || strings.Contains(own, `"id":"tollgate-1"`) {
		t.Fatalf("Tollgate's own request: %s", own)
	}
	answer := `{"jsonrpc":"2.0","id":"tollgate-1","result":{"action":"accept","content":{}}}`
	if _, err := io.WriteString(cw, answer+"\n"); err != nil {
		t.Fatal(err)
	}
	mcptest.Eventually(t, 5*time.Second, func() bool { return fs.received() == 1 }, "the server to receive one message")
	if got := fs.lines()[0]; got != answer {
		t.Errorf("the server got %s", got)
	}
	select {
	case err := <-asked:
		t.Fatalf("Tollgate's question was answered by the client's answer to the server: %v", err)
	default:
	}
	stopAsk()
	if err := <-asked; err == nil {
		t.Error("Ask returned no error after its context ended")
	}
	cw.Close()
	<-done
}
