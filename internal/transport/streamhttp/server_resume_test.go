package streamhttp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// TestFrontResumeWhileCallRuns: the answer stream of a slow call is lost
// after its priming event; a GET with Last-Event-ID resumes it while the
// call still runs, and the answer arrives there, once. The lost connection
// is either closed or half-open (the server has not noticed it is gone:
// a dead peer, or a close still in flight).
func TestFrontResumeWhileCallRuns(t *testing.T) {
	for _, halfOpen := range []bool{false, true} {
		t.Run(map[bool]string{false: "closed", true: "half-open"}[halfOpen], func(t *testing.T) {
			hs, srv, _ := newSDKFront(t, "")
			c := newFrontClient(t, hs.URL)
			c.initialize(mcp.Version20251125)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			resp := c.request(ctx, http.MethodPost, frontCall("9", "slow", `{}`))
			defer resp.Body.Close()
			prime, err := sse.NewReader(resp.Body, 1<<20).Next()
			if err != nil || !prime.HasID || len(prime.Data) != 0 {
				t.Fatalf("first event %+v, %v; want a priming event", prime, err)
			}
			<-srv.started
			if !halfOpen {
				cancel()
				resp.Body.Close()
			}

			g := c.request(t.Context(), http.MethodGet, "", "Last-Event-ID", prime.ID)
			if g.StatusCode != http.StatusOK {
				t.Fatalf("resume: HTTP %d", g.StatusCode)
			}
			close(srv.release) // the answer comes while the resumed stream is open
			_, events := readAnswer(t, g)
			if n := answers(events); n != 1 {
				t.Fatalf("the answer arrived %d times on the resumed stream, want once: %+v", n, events)
			}
			if halfOpen {
				_, old := readAnswer(t, resp)
				if n := answers(old); n != 0 {
					t.Errorf("the answer also went to the lost connection")
				}
			}
		})
	}
}

// startSlow POSTs a call of the SDK server's "slow" tool, reads the
// priming event and drops the connection once the tool runs. It returns
// the priming event's id.
func startSlow(t *testing.T, c *frontClient, srv *sdkServer, id string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	resp := c.request(ctx, http.MethodPost, frontCall(id, "slow", `{}`))
	defer resp.Body.Close()
	prime, err := sse.NewReader(resp.Body, 1<<20).Next()
	if err != nil || !prime.HasID || len(prime.Data) != 0 {
		t.Fatalf("first event %+v, %v; want a priming event", prime, err)
	}
	<-srv.started
	return prime.ID
}

// answers counts the events carrying the slow tool's answer.
func answers(events []sse.Event) int {
	n := 0
	for _, ev := range events {
		if bytes.Contains(ev.Data, []byte("slow done")) {
			n++
		}
	}
	return n
}

// TestFrontResumeTwice: a second resumption takes the stream over from the
// first (whose connection may be dead without the server knowing); the
// answer goes out once, on the connection that holds the stream. Resuming
// after the answer's own event id gives nothing more.
func TestFrontResumeTwice(t *testing.T) {
	hs, srv, _ := newSDKFront(t, "")
	c := newFrontClient(t, hs.URL)
	c.initialize(mcp.Version20251125)
	prime := startSlow(t, c, srv, "1")

	first := c.request(t.Context(), http.MethodGet, "", "Last-Event-ID", prime)
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first resume: HTTP %d", first.StatusCode)
	}
	second := c.request(t.Context(), http.MethodGet, "", "Last-Event-ID", prime)
	if second.StatusCode != http.StatusOK {
		t.Fatalf("second resume: HTTP %d", second.StatusCode)
	}
	// The first connection ends once the second holds the stream; only
	// then is the answer released.
	_, firstEvents := readAnswer(t, first)
	close(srv.release)
	_, secondEvents := readAnswer(t, second)
	if n := answers(firstEvents); n != 0 {
		t.Errorf("the taken-over connection got the answer %d times", n)
	}
	if n := answers(secondEvents); n != 1 {
		t.Fatalf("the answer arrived %d times on the second resumption, want once: %+v", n, secondEvents)
	}
	answerID := secondEvents[len(secondEvents)-1].ID

	after := c.request(t.Context(), http.MethodGet, "", "Last-Event-ID", answerID)
	_, events := readAnswer(t, after)
	if after.StatusCode != http.StatusOK || len(events) != 0 {
		t.Fatalf("resume after the answer: HTTP %d, events %+v; want an empty, ended stream", after.StatusCode, events)
	}
}

// TestFrontResumeRefused: a Last-Event-ID that names no event this session
// sent is refused with 400, whatever it is made of, and nothing of
// another session's stream comes back.
func TestFrontResumeRefused(t *testing.T) {
	hs, srv, _ := newSDKFront(t, "", func(o *ServerOptions) {
		o.Identity = func(r *http.Request) string { return r.Header.Get("X-Test-Identity") }
	})
	victim := newFrontClient(t, hs.URL)
	victim.header.Set("X-Test-Identity", "alice")
	victim.initialize(mcp.Version20251125)
	prime := startSlow(t, victim, srv, "1")
	close(srv.release) // the victim's answer is waiting on its stream
	tag, num, _, ok := parseEventID(prime)
	if !ok {
		t.Fatalf("priming event id %q does not parse", prime)
	}

	attacker := newFrontClient(t, hs.URL)
	attacker.header.Set("X-Test-Identity", "alice") // even under the same identity
	attacker.initialize(mcp.Version20251125)
	var lastID string
	for i := range 3 { // the attacker's own streams have the victim's numbers
		resp := attacker.post(frontCall(strconv.Itoa(i+1), "count", `{}`))
		_, events := readAnswer(t, resp)
		if resp.StatusCode != http.StatusOK || len(events) == 0 {
			t.Fatalf("count: HTTP %d %+v", resp.StatusCode, events)
		}
		lastID = events[len(events)-1].ID
	}
	ownTag, lastNum, _, _ := parseEventID(lastID)
	attacker.json = true
	if status, _ := attacker.call(frontCall("9", "count", `{}`)); status != http.StatusOK {
		t.Fatalf("count as JSON: HTTP %d", status)
	}
	attacker.json = false
	jsonStream := strconv.FormatInt(lastNum+1, 10)
	own := func(num, seq string) string { return ownTag + "_" + num + "_" + seq }

	for _, tc := range []struct{ name, id string }{
		{"another session's event id", prime},
		{"another session's tag on an own stream", tag + "_" + strconv.FormatInt(num, 10) + "_0"},
		{"the old form without a tag", strconv.FormatInt(num, 10) + "_1"},
		{"garbage", "not-an-id"},
		{"negative stream", own("-1", "1")},
		{"no such stream", own("999", "1")},
		{"an event not sent yet", own("0", "5")},
		{"a JSON answer's stream", own(jsonStream, "0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := attacker.request(t.Context(), http.MethodGet, "", "Last-Event-ID", tc.id)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("Last-Event-ID %q: HTTP %d, want 400: %s", tc.id, resp.StatusCode, body)
			}
			if bytes.Contains(body, []byte("slow done")) {
				t.Fatalf("Last-Event-ID %q leaked the victim's answer: %s", tc.id, body)
			}
		})
	}

	t.Run("another identity", func(t *testing.T) {
		resp := victim.request(t.Context(), http.MethodGet, "", "Last-Event-ID", prime, "X-Test-Identity", "mallory")
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || bytes.Contains(body, []byte("slow done")) {
			t.Fatalf("HTTP %d %s, want 404 and nothing of the stream", resp.StatusCode, body)
		}
	})

	// The victim still gets its answer.
	g := victim.request(t.Context(), http.MethodGet, "", "Last-Event-ID", prime)
	_, events := readAnswer(t, g)
	if n := answers(events); g.StatusCode != http.StatusOK || n != 1 {
		t.Fatalf("victim's resume: HTTP %d, %d answers", g.StatusCode, n)
	}
}
