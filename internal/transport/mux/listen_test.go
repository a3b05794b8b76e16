package mux

import (
	"testing"
)

// TestSubscriptionNotificationsRouted: the notifications of a
// subscriptions/listen stream (2026-07-28) are tagged with the listen
// request's id, which upstream is the mux's: each goes to the session
// whose listen it is, with the session's own id put back, and never to
// another session — even one with a listen of the same id, or a call in
// flight. The subscription's closing answer is re-tagged the same way, and
// a notification of a subscription nobody has open is dropped.
func TestSubscriptionNotificationsRouted(t *testing.T) {
	m, u := setup(t)
	a, b := m.Attach(), m.Attach()
	listen := `{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}`
	if err := a.Write([]byte(listen)); err != nil {
		t.Fatal(err)
	}
	ua := u.next(t)
	if err := b.Write([]byte(listen)); err != nil {
		t.Fatal(err)
	}
	ub := u.next(t)
	if err := b.Write([]byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"x"}}`)); err != nil {
		t.Fatal(err)
	}
	call := u.next(t)
	tag := func(id []byte) string { return `"_meta":{"io.modelcontextprotocol/subscriptionId":` + string(id) + `}` }
	u.say(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":999}}}`)
	u.say(`{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{` + tag(ub.ID) + `,"notifications":{"toolsListChanged":true}}}`)
	u.say(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{` + tag(ua.ID) + `}}`)
	u.say(`{"jsonrpc":"2.0","id":` + string(call.ID) + `,"result":{"content":[]}}`)
	u.say(`{"jsonrpc":"2.0","id":` + string(ua.ID) + `,"result":{"resultType":"complete",` + tag(ua.ID) + `}}`)

	own := `"_meta":{"io.modelcontextprotocol/subscriptionId":1}`
	if got, want := read(t, b), `{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{`+own+`,"notifications":{"toolsListChanged":true}}}`; got != want {
		t.Errorf("b got %s, want %s", got, want)
	}
	if got, want := read(t, b), `{"jsonrpc":"2.0","id":2,"result":{"content":[]}}`; got != want {
		t.Errorf("b got %s, want its call's answer %s (nothing of a's subscription)", got, want)
	}
	if got, want := read(t, a), `{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{`+own+`}}`; got != want {
		t.Errorf("a got %s, want %s", got, want)
	}
	if got, want := read(t, a), `{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete",`+own+`}}`; got != want {
		t.Errorf("a got %s, want %s", got, want)
	}
}

// TestListenIsNotACallInFlight: a session's open subscriptions/listen does
// not make it the owner of every untagged server message. With session a
// listening and session b calling, a log message and a server request that
// came while b's call was in flight go to b; with neither calling, they go
// to nobody (the request is refused upstream) rather than to a.
func TestListenIsNotACallInFlight(t *testing.T) {
	m, u := setup(t)
	a, b := m.Attach(), m.Attach()
	if err := a.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen","params":{"notifications":{"toolsListChanged":true}}}`)); err != nil {
		t.Fatal(err)
	}
	u.next(t)
	if err := b.Write([]byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x"}}`)); err != nil {
		t.Fatal(err)
	}
	call := u.next(t)
	u.say(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"for b"}}`)
	u.say(`{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{}}`)
	if got, want := read(t, b), `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"for b"}}`; got != want {
		t.Errorf("b got %s, want %s", got, want)
	}
	if got, want := read(t, b), `{"jsonrpc":"2.0","id":"s1","method":"sampling/createMessage","params":{}}`; got != want {
		t.Errorf("b got %s, want %s", got, want)
	}
	u.say(`{"jsonrpc":"2.0","id":` + string(call.ID) + `,"result":{"content":[]}}`)
	if got, want := read(t, b), `{"jsonrpc":"2.0","id":7,"result":{"content":[]}}`; got != want {
		t.Errorf("b got %s, want %s", got, want)
	}
	// Nobody is calling now: a's listen does not make the next server
	// request a's.
	u.say(`{"jsonrpc":"2.0","id":"s2","method":"sampling/createMessage","params":{}}`)
	refusal := u.next(t)
	if string(refusal.ID) != `"s2"` || refusal.Error == nil {
		t.Errorf("upstream got %s, want the request s2 refused", refusal.Raw)
	}
	// Messages are routed in the order they came: by the time the
	// refusal went upstream, anything for a would be queued.
	a.qmu.Lock()
	queued := len(a.queue)
	a.qmu.Unlock()
	if queued != 0 {
		t.Errorf("a, which only listens, got %d frames meant for b or nobody", queued)
	}
}
