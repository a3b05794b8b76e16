package mux

import (
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
)

// upstream is a fake upstream Conn: the test reads what the mux sent with
// next and answers with say.
type upstream struct {
	toMux   chan []byte
	fromMux chan []byte
	once    sync.Once
	closed  chan struct{}
}

func newUpstream() *upstream {
	return &upstream{toMux: make(chan []byte, 64), fromMux: make(chan []byte, 64), closed: make(chan struct{})}
}

func (u *upstream) Read() ([]byte, error) {
	select {
	case f := <-u.toMux:
		return f, nil
	case <-u.closed:
		return nil, io.EOF
	}
}

func (u *upstream) Write(f []byte) error {
	u.fromMux <- append([]byte(nil), f...)
	return nil
}

func (u *upstream) Close() error {
	u.once.Do(func() { close(u.closed) })
	return nil
}

func (u *upstream) say(f string) { u.toMux <- []byte(f) }

// next returns the next frame the mux sent upstream.
func (u *upstream) next(t *testing.T) jsonrpc.Message {
	t.Helper()
	select {
	case f := <-u.fromMux:
		m, err := jsonrpc.Parse(f, false)
		if err != nil {
			t.Fatalf("mux sent %s: %v", f, err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("nothing sent upstream")
	}
	return jsonrpc.Message{}
}

func (u *upstream) quiet(t *testing.T) {
	t.Helper()
	select {
	case f := <-u.fromMux:
		t.Fatalf("unexpected frame upstream: %s", f)
	default:
	}
}

// read returns the next frame a session gets.
func read(t *testing.T, c *Conn) string {
	t.Helper()
	ch := make(chan []byte, 1)
	go func() {
		f, _ := c.Read()
		ch <- f
	}()
	select {
	case f := <-ch:
		return string(f)
	case <-time.After(5 * time.Second):
		t.Fatal("the session got nothing")
	}
	return ""
}

func setup(t *testing.T) (*Mux, *upstream) {
	u := newUpstream()
	m := New(u, nil)
	t.Cleanup(func() { m.Close() })
	return m, u
}

func TestSameIDsFromTwoSessions(t *testing.T) {
	m, u := setup(t)
	a, b := m.Attach(), m.Attach()
	ids := []string{`1`, `"\u0061"`, `9007199254740993`}
	for _, id := range ids {
		if err := a.Write([]byte(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"x","arguments":{"who":"a"}}}`)); err != nil {
			t.Fatal(err)
		}
		if err := b.Write([]byte(`{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"x","arguments":{"who":"b"}}}`)); err != nil {
			t.Fatal(err)
		}
		ua, ub := u.next(t), u.next(t)
		if string(ua.ID) == string(ub.ID) {
			t.Fatalf("both sessions' id %s went upstream as %s", id, ua.ID)
		}
		// Answer b first, echoing whose call it was.
		for _, up := range []jsonrpc.Message{ub, ua} {
			who := "a"
			if strings.Contains(string(up.Raw), `"b"`) {
				who = "b"
			}
			u.say(`{"jsonrpc":"2.0","id":` + string(up.ID) + `,"result":{"who":"` + who + `"}}`)
		}
		if got, want := read(t, b), `{"jsonrpc":"2.0","id":`+id+`,"result":{"who":"b"}}`; got != want {
			t.Errorf("b got %s, want %s", got, want)
		}
		if got, want := read(t, a), `{"jsonrpc":"2.0","id":`+id+`,"result":{"who":"a"}}`; got != want {
			t.Errorf("a got %s, want %s", got, want)
		}
	}
}

func TestProgressAndCancellation(t *testing.T) {
	m, u := setup(t)
	a, b := m.Attach(), m.Attach()
	_ = a.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"progressToken":"p"},"name":"x"}}`))
	_ = b.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"progressToken":"p"}}}`))
	ua, ub := u.next(t), u.next(t)
	ta, tb := mcp.MetaValue(ua.Params, "progressToken"), mcp.MetaValue(ub.Params, "progressToken")
	if string(ta) == string(tb) || string(ta) == `"p"` {
		t.Fatalf("progress tokens upstream %s and %s: want distinct rewrites", ta, tb)
	}
	u.say(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":` + string(tb) + `,"progress":1}}`)
	if got := read(t, b); got != `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":1}}` {
		t.Fatalf("b got %s", got)
	}
	// a cancels its call: the upstream is told the upstream id.
	_ = a.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`))
	c := u.next(t)
	if got := mcp.ParamsValue(c.Params, "requestId"); string(got) != string(ua.ID) {
		t.Fatalf("cancellation upstream names %s, want %s", got, ua.ID)
	}
	// Cancelling what is not in flight sends nothing.
	_ = a.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42}}`))
	u.quiet(t)
	// Detaching b cancels its call upstream.
	_ = b.Close()
	c = u.next(t)
	if c.Method != "notifications/cancelled" || string(mcp.ParamsValue(c.Params, "requestId")) != string(ub.ID) {
		t.Fatalf("after detach, upstream got %s", c.Raw)
	}
	if _, err := b.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("detached Read: %v, want io.EOF", err)
	}
}

func TestInitializeOnce(t *testing.T) {
	m, u := setup(t)
	a, b := m.Attach(), m.Attach()
	_ = a.Write([]byte(`{"jsonrpc":"2.0","id":"i","method":"initialize","params":{"protocolVersion":"2025-11-25"}}`))
	init := u.next(t)
	_ = b.Write([]byte(`{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`))
	u.quiet(t)
	u.say(`{"jsonrpc":"2.0","id":` + string(init.ID) + `,"result":{"protocolVersion":"2025-11-25"}}`)
	if got := read(t, a); got != `{"jsonrpc":"2.0","id":"i","result":{"protocolVersion":"2025-11-25"}}` {
		t.Fatalf("a got %s", got)
	}
	if got := read(t, b); got != `{"jsonrpc":"2.0","id":7,"result":{"protocolVersion":"2025-11-25"}}` {
		t.Fatalf("b got %s", got)
	}
	_ = a.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	_ = b.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	if got := u.next(t); got.Method != "notifications/initialized" {
		t.Fatalf("upstream got %s", got.Raw)
	}
	u.quiet(t)
	c := m.Attach()
	_ = c.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`))
	if got := read(t, c); got != `{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-11-25"}}` {
		t.Fatalf("a later session got %s", got)
	}
}

func TestServerRequestsGoToTheBusySession(t *testing.T) {
	m, u := setup(t)
	a, b := m.Attach(), m.Attach()
	_ = b.Write([]byte(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"x"}}`))
	up := u.next(t)
	u.say(`{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{}}`)
	if got := read(t, b); !strings.Contains(got, "sampling/createMessage") {
		t.Fatalf("b got %s", got)
	}
	// Only b may answer it.
	_ = a.Write([]byte(`{"jsonrpc":"2.0","id":"s1","result":{"forged":true}}`))
	u.quiet(t)
	_ = b.Write([]byte(`{"jsonrpc":"2.0","id":"s1","result":{}}`))
	if got := u.next(t); string(got.ID) != `"s1"` || got.Result == nil {
		t.Fatalf("upstream got %s", got.Raw)
	}
	// With no session busy and two attached, a server request cannot be
	// placed: the server gets an error (a ping is answered).
	u.say(`{"jsonrpc":"2.0","id":` + string(up.ID) + `,"result":{}}`)
	read(t, b)
	u.say(`{"jsonrpc":"2.0","id":"s2","method":"roots/list"}`)
	if got := u.next(t); got.Error == nil {
		t.Fatalf("an unplaceable server request was answered %s", got.Raw)
	}
	u.say(`{"jsonrpc":"2.0","id":"s3","method":"ping"}`)
	if got := u.next(t); string(got.Result) != "{}" {
		t.Fatalf("ping answered %s", got.Raw)
	}
	// list_changed goes to everyone.
	u.say(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`)
	for _, c := range []*Conn{a, b} {
		if got := read(t, c); !strings.Contains(got, "list_changed") {
			t.Fatalf("got %s", got)
		}
	}
}

func TestSubscriptionsCounted(t *testing.T) {
	m, u := setup(t)
	a, b := m.Attach(), m.Attach()
	sub := func(c *Conn, method string, id string) {
		_ = c.Write([]byte(`{"jsonrpc":"2.0","id":` + id + `,"method":"` + method + `","params":{"uri":"r://x"}}`))
	}
	sub(a, "resources/subscribe", "1")
	up := u.next(t)
	u.say(`{"jsonrpc":"2.0","id":` + string(up.ID) + `,"result":{}}`)
	read(t, a)
	sub(b, "resources/subscribe", "1")
	if got := read(t, b); got != `{"jsonrpc":"2.0","id":1,"result":{}}` {
		t.Fatalf("b's subscribe: %s", got)
	}
	u.quiet(t)
	u.say(`{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"r://x"}}`)
	read(t, a)
	read(t, b)
	sub(a, "resources/unsubscribe", "2")
	if got := read(t, a); got != `{"jsonrpc":"2.0","id":2,"result":{}}` {
		t.Fatalf("a's unsubscribe while b listens: %s", got)
	}
	u.quiet(t)
	sub(b, "resources/unsubscribe", "2")
	if got := u.next(t); got.Method != "resources/unsubscribe" {
		t.Fatalf("the last unsubscribe did not go upstream: %s", got.Raw)
	}
}

func TestUpstreamEndEndsSessions(t *testing.T) {
	m, u := setup(t)
	a := m.Attach()
	u.Close()
	if _, err := a.Read(); !errors.Is(err, io.EOF) {
		t.Fatalf("Read after the upstream ended: %v", err)
	}
	<-m.Done()
	if c := m.Attach(); c != nil {
		if _, err := c.Read(); !errors.Is(err, io.EOF) {
			t.Fatalf("a session attached after the end: %v", err)
		}
	}
}
