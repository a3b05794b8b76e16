package streamhttp

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// TestClientListenCancelledByClosing: a 2026-07-28 subscriptions/listen
// upstream is a long-lived POST (no --upstream-timeout cuts it); its
// notification comes out as it arrives; a notifications/cancelled for it
// closes the POST — the revision's cancellation over HTTP — and is not
// sent itself. tasks/get carries the task id in Mcp-Name (tasks
// extension). The server follows the spec text (basic/patterns/
// subscriptions, basic/transports/streamable-http): no SDK peer speaks
// the tasks extension yet.
func TestClientListenCancelledByClosing(t *testing.T) {
	var mu sync.Mutex
	var posted []string
	names := map[string]string{}
	closed := make(chan struct{})
	s := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m, _ := jsonrpc.Parse(body, false)
		mu.Lock()
		posted = append(posted, m.Method)
		names[m.Method] = r.Header.Get("Mcp-Name")
		mu.Unlock()
		if m.Method != "subscriptions/listen" {
			w.Header().Set("Content-Type", "application/json")
			w.Write(jsonrpc.AppendResult(nil, m.ID, []byte(`{"resultType":"complete"}`)))
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		sw := sse.NewWriter(w)
		sw.Write(sse.Event{Data: []byte(`{"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":` + string(m.ID) + `},"notifications":{"toolsListChanged":true}}}`)})
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(closed)
	}))
	// A timeout that no exchange survives: the listen's acknowledgement
	// can only arrive if the timeout does not apply to it.
	c := dialT(t, s.URL, ClientOptions{RequestTimeout: time.Nanosecond})
	fr := readFrames(c)
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	write(t, c, `{"jsonrpc":"2.0","id":"sub","method":"subscriptions/listen","params":{`+meta+`,"notifications":{"toolsListChanged":true}}}`)
	mustContain(t, fr.next(t), `"io.modelcontextprotocol/subscriptionId":"sub"`)
	other := dialT(t, s.URL, ClientOptions{})
	ofr := readFrames(other)
	write(t, other, `{"jsonrpc":"2.0","id":2,"method":"tasks/get","params":{"taskId":"t-9",`+meta+`}}`)
	mustContain(t, ofr.next(t), `"id":2`)
	write(t, c, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"sub"}}`)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("notifications/cancelled did not close the listen's POST")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range posted {
		if m == "notifications/cancelled" {
			t.Error("notifications/cancelled was POSTed: the revision has no client notifications over HTTP")
		}
	}
	if names["tasks/get"] != "t-9" {
		t.Errorf("tasks/get Mcp-Name %q, want the task id t-9", names["tasks/get"])
	}
}
