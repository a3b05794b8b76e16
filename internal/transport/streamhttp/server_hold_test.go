package streamhttp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// flushRecorder records, at each Flush, what had been written by then.
type flushRecorder struct {
	*httptest.ResponseRecorder
	mu      sync.Mutex
	flushes []string
}

func (f *flushRecorder) Flush() {
	f.mu.Lock()
	f.flushes = append(f.flushes, f.Body.String())
	f.mu.Unlock()
	f.ResponseRecorder.Flush()
}

func holdStream(t *testing.T, hold, answerAfter time.Duration) *flushRecorder {
	t.Helper()
	st := newStream(1, false)
	st.prime()
	go func() {
		time.Sleep(answerAfter)
		st.push([]byte(`{"jsonrpc":"2.0","id":1,"result":{}}`), true)
	}()
	w := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	if !serveSSE(w, r, st, 0, nil, sseOptions{ids: true, hold: hold}) {
		t.Fatal("serveSSE did not write the whole stream")
	}
	if !strings.Contains(w.Body.String(), `"result":{}`) || !strings.Contains(w.Body.String(), "id: ") {
		t.Fatalf("stream lacks the priming event or the answer:\n%s", w.Body.String())
	}
	return w
}

// An answer that comes within the hold leaves with the header and the
// priming event: nothing is flushed before it.
func TestSSEHoldQuickAnswerOneWrite(t *testing.T) {
	w := holdStream(t, 10*time.Second, 10*time.Millisecond)
	if len(w.flushes) != 0 {
		t.Errorf("flushed %d times before the answer, want 0: %q", len(w.flushes), w.flushes)
	}
}

// A slow answer does not keep the header back: the priming event is
// flushed once the hold is over, before the answer comes.
func TestSSEHoldSlowAnswerHeaderFirst(t *testing.T) {
	w := holdStream(t, 20*time.Millisecond, 300*time.Millisecond)
	if len(w.flushes) == 0 || strings.Contains(w.flushes[0], "result") || !strings.Contains(w.flushes[0], "id: ") {
		t.Errorf("first flush %q, want the priming event without the answer", w.flushes)
	}
}

// Without a hold (the GET stream), the header goes out at once.
func TestSSENoHoldFlushesAtOnce(t *testing.T) {
	w := holdStream(t, 0, 50*time.Millisecond)
	if len(w.flushes) == 0 || strings.Contains(w.flushes[0], "result") {
		t.Errorf("first flush %q, want one before the answer", w.flushes)
	}
}
