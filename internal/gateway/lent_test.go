package gateway

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

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
	front := &lentEnd{pipeEnd: side, flush: func() {}, deliver: func(frame, id []byte, _ bool, buf *[]byte) {
		if (buf != nil) != (id != nil) {
			t.Errorf("answer %s: a buffer to build in given %v, id marked %v", frame, buf != nil, id != nil)
		}
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

// TestRecycledPipeReusesOnlyWhatWasGivenBack: the router's edited requests
// are built in frames the pump gave back by reading its next one, never in
// the frame the pump holds now; a plain pipe reuses nothing.
func TestRecycledPipeReusesOnlyWhatWasGivenBack(t *testing.T) {
	call := func(id string) []byte { return []byte(`{"jsonrpc":"2.0","id":` + id + `,"method":"ping"}`) }
	write := func(w *pipeEnd, id string) {
		t.Helper()
		f := call(id)
		at := bytes.Index(f, []byte(`:`+id+`,`)) + 1
		old := f[at : at+len(id)]
		if err := writeEdited(w, jsonrpc.Message{Raw: f}, false, []jsonrpc.Edit{{Old: old, Repl: []byte("9" + id)}}); err != nil {
			t.Fatal(err)
		}
	}
	read := func(r *pipeEnd, id string) []byte {
		t.Helper()
		f, err := r.Read()
		if err != nil {
			t.Fatal(err)
		}
		if string(f) != string(call("9"+id)) {
			t.Fatalf("read %s, want %s", f, call("9"+id))
		}
		return f
	}
	router, pump := recycledPipe()
	write(router, "1")
	first := read(pump, "1")
	write(router, "2") // the pump still holds first
	if second := read(pump, "2"); &second[0] == &first[0] {
		t.Fatal("a frame the pump held was written over")
	}
	write(router, "3") // first was given back by the second Read
	third := read(pump, "3")
	if &third[0] != &first[0] {
		t.Error("the frame given back was not reused")
	}

	a, b := pipe()
	write(a, "1")
	f1 := read(b, "1")
	write(a, "2")
	read(b, "2")
	write(a, "3")
	if f3 := read(b, "3"); &f3[0] == &f1[0] || string(f1) != string(call("91")) {
		t.Error("a plain pipe reused a frame its reader may keep")
	}
}

// TestRouterHandsThePumpItsParse: a call the router read strictly reaches
// the server's pump with the router's parse moved onto the edited frame,
// and that parse is the one the pump would read from it: id, name and
// progress token edited, escapes and spacing of every kind.
func TestRouterHandsThePumpItsParse(t *testing.T) {
	var mu sync.Mutex
	handed := 0
	handedCheck = func(frame []byte, m jsonrpc.Message, parsed bool) {
		mu.Lock()
		defer mu.Unlock()
		handed++
		want, err := jsonrpc.Parse(frame, true)
		if !parsed || err != nil {
			t.Errorf("%s: handed without its parse (%v, %v)", frame, parsed, err)
			return
		}
		if string(m.ID) != string(want.ID) || string(m.Params) != string(want.Params) || m.Method != want.Method ||
			jsonrpc.Offset(frame, m.ID) != jsonrpc.Offset(want.Raw, want.ID) || jsonrpc.Offset(frame, m.Params) != jsonrpc.Offset(want.Raw, want.Params) ||
			&m.Raw[0] != &frame[0] {
			t.Errorf("%s: handed %+v, the pump reads %+v", frame, m, want)
		}
	}
	t.Cleanup(func() { handedCheck = nil })
	g, err := New([]*Server{{Name: "srv", Gate: allowAll(t), Dial: echoDialer(t)}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	client := servePipe(t, g)
	if err := client.Write([]byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Read(); err != nil {
		t.Fatal(err)
	}
	calls := []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"srv__echo","arguments":{"message":"a"}}}`,
		`{ "params" : { "arguments":{"message":"b"}, "_meta" : {"progressToken":"p1"}, "name" : "srv__echo" }, "id" : "two", "method" : "tools/call", "jsonrpc" : "2.0" }`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"srv__\u0065cho","arguments":{"message":"\u00e9\ud83d\ude00"}}}`,
		`{"jsonrpc":"2.0","id":4.0,"method":"tools/call","params":{"_meta":{"progressToken":17},"arguments":{"message":"d"},"name":"srv__echo"}}`,
	}
	for i, c := range calls {
		if err := client.Write([]byte(c)); err != nil {
			t.Fatal(err)
		}
		a, err := client.Read()
		if err != nil {
			t.Fatal(err)
		}
		if m, err := jsonrpc.Parse(a, true); err != nil || m.Result == nil || !bytes.Contains(m.Result, []byte(`"text"`)) {
			t.Errorf("call %d answered %s", i+1, a)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	// The first call waited for the server's tool list to be read, and
	// was routed off the read loop from a copy, parsed again.
	if handed != len(calls)-1 {
		t.Errorf("%d of %d calls handed with their parse", handed, len(calls)-1)
	}
}

// servePipe serves one session of g on an in-memory pipe until the test
// ends, and returns the client's end.
func servePipe(t *testing.T, g *Gateway) *pipeEnd {
	t.Helper()
	client, front := pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Serve(ctx, &transport.Session{ID: "t"}, front, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	return client
}

// frames reads what client receives, in order, until its session ends.
func frames(client *pipeEnd) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		for {
			f, err := client.Read()
			if err != nil {
				return
			}
			ch <- string(f)
		}
	}()
	return ch
}

// nextFrame returns the next frame of in, failing the test when the
// session ends or nothing comes within 10 s.
func nextFrame(t *testing.T, in <-chan string) string {
	t.Helper()
	select {
	case f, ok := <-in:
		if !ok {
			t.Fatal("the session ended")
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("nothing came from the gateway")
		return ""
	}
}
