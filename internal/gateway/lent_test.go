package gateway

import (
	"context"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// TestPumpMarksResponsesOnTheLink: a server's response that the pump
// passes on as it came reaches the router with its id marked, so the
// router routes it without parsing it again; what the pump writes of its
// own (here the answer to a call it refuses) is not marked and is parsed.
func TestPumpMarksResponsesOnTheLink(t *testing.T) {
	up, _, err := echoDialer(t).Dial(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	type handed struct{ frame, id []byte }
	got := make(chan handed, 1)
	client, side := pipe()
	front := &lentEnd{pipeEnd: side, flush: func() {}, deliver: func(frame, id []byte, _ bool) {
		// Lent: keep copies, the id at its offset in the copy.
		c := append([]byte(nil), frame...)
		var cid []byte
		if id != nil {
			at := jsonrpc.Offset(frame, id)
			cid = c[at : at+len(id)]
		}
		got <- handed{c, cid}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = proxy.NewHandler(allowAll(t), nil).Serve(ctx, &transport.Session{ID: "t"}, front, up)
	}()
	defer func() { cancel(); <-done }()

	for _, c := range []struct {
		msg, id string // id: the marked id, "" for none
	}{
		{`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, `"init"`},
		{`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`, `7`},
		{`{"id" : "a\u0062", "jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{}}}`, `"a\u0062"`},
		{`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi","message":"twice"}}}`, ``},
	} {
		if err := client.Write([]byte(c.msg)); err != nil {
			t.Fatal(err)
		}
		h := <-got
		frame, id := h.frame, h.id
		if string(id) != c.id {
			t.Errorf("answer %s: marked id %q, want %q", frame, id, c.id)
		}
		// The router edits the id in place: it must be where the frame has it.
		if at := jsonrpc.Offset(frame, id); id != nil && (at < 0 || at+len(id) > len(frame) || string(frame[at:at+len(id)]) != c.id) {
			t.Errorf("answer %s: the marked id is not the frame's (offset %d)", frame, at)
		}
	}
}
