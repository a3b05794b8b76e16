package approval

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the raw body>".
const SignatureHeader = "X-Tollgate-Signature"

// Notice is the JSON body of a webhook delivery.
type Notice struct {
	Event      string    `json:"event"` // approval_requested, approval_approved, approval_denied
	ApprovalID string    `json:"approval_id"`
	Tool       string    `json:"tool"`
	ArgsHash   string    `json:"args_hash"`
	Rule       string    `json:"rule"`
	Reason     string    `json:"reason,omitempty"`
	ExpiresAt  time.Time `json:"expires_at"`
	Approver   string    `json:"approver,omitempty"`
	Session    string    `json:"session,omitempty"`
	Identity   string    `json:"identity,omitempty"`
	// Approve is the command a person runs to approve.
	Approve string    `json:"approve_command,omitempty"`
	SentAt  time.Time `json:"sent_at"`
}

// NoticeFor builds the notice of event about r.
func NoticeFor(event string, r Record, now time.Time) Notice {
	n := Notice{Event: event, ApprovalID: r.ID, Tool: r.Tool, ArgsHash: r.ArgsHash, Rule: r.Rule, Reason: r.Reason,
		ExpiresAt: r.ExpiresAt, Approver: r.Approver, Session: r.Session, Identity: r.Identity, SentAt: now.UTC()}
	if event == "approval_requested" {
		n.Approve = "tollgate approvals approve " + r.ID
	}
	return n
}

// Sign returns the X-Tollgate-Signature value for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether sig is body's signature under secret, comparing in
// constant time.
func Verify(secret, body []byte, sig string) bool {
	return hmac.Equal([]byte(sig), []byte(Sign(secret, body)))
}

// Webhook posts signed notices to one URL. Notify never blocks the caller:
// each delivery runs in its own goroutine, at most MaxInFlight at once
// (further notices are dropped and logged), retried with exponential backoff
// up to Attempts times while the receiver fails (a non-2xx status or a
// network error). Close waits for deliveries in flight, at most until its
// context ends; Notify after Close drops the notice.
type Webhook struct {
	URL    string
	Secret []byte
	// Client defaults to one with a 10s timeout.
	Client *http.Client
	// Attempts defaults to 5; Backoff (the first retry's delay, doubled
	// each time) to 500ms.
	Attempts int
	Backoff  time.Duration
	// MaxInFlight defaults to 32.
	MaxInFlight int
	Logger      *slog.Logger

	once   sync.Once
	sem    chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	closed bool
}

func (w *Webhook) init() {
	w.once.Do(func() {
		n := w.MaxInFlight
		if n <= 0 {
			n = 32
		}
		w.sem = make(chan struct{}, n)
		w.stop = make(chan struct{})
	})
}

func (w *Webhook) log() *slog.Logger {
	if w.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return w.Logger
}

// Notify sends n in the background.
func (w *Webhook) Notify(n Notice) {
	w.init()
	body, err := json.Marshal(n)
	if err != nil {
		w.log().Error("webhook: encode notice", "err", err)
		return
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	select {
	case w.sem <- struct{}{}:
	default:
		w.mu.Unlock()
		w.log().Warn("webhook: too many deliveries in flight; notice dropped", "event", n.Event, "approval_id", n.ApprovalID)
		return
	}
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		defer func() { <-w.sem }()
		if err := w.deliver(body); err != nil {
			w.log().Warn("webhook: delivery failed", "event", n.Event, "approval_id", n.ApprovalID, "err", err)
		}
	}()
}

func (w *Webhook) deliver(body []byte) error {
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	attempts, backoff := w.Attempts, w.Backoff
	if attempts <= 0 {
		attempts = 5
	}
	if backoff <= 0 {
		backoff = 500 * time.Millisecond
	}
	sig := Sign(w.Secret, body)
	var last error
	for i := range attempts {
		if i > 0 {
			t := time.NewTimer(backoff << (i - 1))
			select {
			case <-t.C:
			case <-w.stop:
				t.Stop()
				return fmt.Errorf("deliver webhook: stopped before retry %d: %w", i, last)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-w.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		last = w.post(ctx, client, body, sig)
		cancel()
		if last == nil {
			return nil
		}
	}
	return fmt.Errorf("deliver webhook after %d attempts: %w", attempts, last)
}

func (w *Webhook) post(ctx context.Context, client *http.Client, body []byte, sig string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tollgate-webhook/1")
	req.Header.Set(SignatureHeader, sig)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post %s: status %s", w.URL, resp.Status)
	}
	return nil
}

// Close stops accepting notices and waits for deliveries in flight until
// ctx ends, then abandons their retries. It may be called more than once.
func (w *Webhook) Close(ctx context.Context) {
	w.init()
	w.mu.Lock()
	already := w.closed
	w.closed = true
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if !already {
			close(w.stop)
		}
		<-done
	}
}
