package approval

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func loopbackServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestWebhookSignedAndRetried(t *testing.T) {
	secret := []byte("s3cret")
	type delivery struct {
		body []byte
		sig  string
	}
	got := make(chan delivery, 10)
	calls := 0
	srv := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		calls++
		if calls == 1 {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		got <- delivery{b, r.Header.Get(SignatureHeader)}
	}))
	w := &Webhook{URL: srv.URL, Secret: secret, Backoff: time.Millisecond}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := Record{ID: NewID(), Tool: "pay", ArgsHash: "sha256:ab", Rule: "big", ExpiresAt: now.Add(time.Hour)}
	w.Notify(NoticeFor("approval_requested", rec, now))
	var d delivery
	select {
	case d = <-got:
	case <-time.After(30 * time.Second):
		t.Fatal("no delivery")
	}
	if !Verify(secret, d.body, d.sig) {
		t.Fatalf("signature %q does not verify", d.sig)
	}
	if Verify([]byte("other"), d.body, d.sig) || Verify(secret, append(d.body, ' '), d.sig) {
		t.Fatal("signature verifies under the wrong secret or body")
	}
	var n Notice
	if err := json.Unmarshal(d.body, &n); err != nil {
		t.Fatal(err)
	}
	if n.Event != "approval_requested" || n.ApprovalID != rec.ID || n.Tool != "pay" || n.ArgsHash != "sha256:ab" ||
		n.Rule != "big" || !n.ExpiresAt.Equal(rec.ExpiresAt) || n.Approve != "tollgate approvals approve "+rec.ID {
		t.Fatalf("notice = %+v", n)
	}
	w.Close(context.Background())
	w.Notify(NoticeFor("approval_requested", rec, now)) // after Close: dropped, no panic
}

func TestWebhookNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	srv := loopbackServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer close(release)
	w := &Webhook{URL: srv.URL, MaxInFlight: 2, Attempts: 1}
	for range 10 { // 8 of these are dropped; none waits
		w.Notify(Notice{Event: "approval_requested"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Close(ctx) // abandons the two stuck deliveries
}
