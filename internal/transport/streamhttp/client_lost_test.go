package streamhttp

import (
	"net/http"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// TestClientLostAnswersAreMarked: when a call reached the upstream and its
// answer will not come (the event stream ended, the server failed with a
// 5xx), the error Tollgate answers in its place is marked as no answer
// (jsonrpc.IsLost), so a gate keeps the call's charges; an HTTP 4xx is the
// server turning the request down, and is not marked.
func TestClientLostAnswersAreMarked(t *testing.T) {
	for _, c := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		lost   bool
	}{
		{"stream ends", func(w http.ResponseWriter) {
			sseWriter(w).Write(sse.Event{Data: []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{}}`)})
		}, true},
		{"5xx", func(w http.ResponseWriter) { http.Error(w, "upstream timed out", http.StatusBadGateway) }, true},
		{"4xx", func(w http.ResponseWriter) { http.Error(w, "no such tool", http.StatusUnprocessableEntity) }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFake(t)
			f.onCall = func(w http.ResponseWriter, r *http.Request, m jsonrpc.Message) { c.answer(w) }
			s := newServer(t, f)
			cc := dialT(t, s.URL, ClientOptions{})
			fr := readFrames(cc)
			handshake(t, f, cc, fr)
			write(t, cc, callReq(1, "x"))
			var answer []byte
			for answer == nil {
				frame := fr.next(t)
				if m, err := jsonrpc.Parse(frame, true); err == nil && m.IsResponse() {
					answer = frame
				}
			}
			m, _ := jsonrpc.Parse(answer, true)
			if m.Error == nil || jsonrpc.IsLost(m.Error) != c.lost {
				t.Errorf("answer %s: lost %v, want %v", answer, m.Error != nil && jsonrpc.IsLost(m.Error), c.lost)
			}
		})
	}
}
