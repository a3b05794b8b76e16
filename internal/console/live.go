package console

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/audit"
)

// Decision is one decision as the live page shows it.
type Decision struct {
	N        int64     `json:"n"` // position in the console's feed
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	Session  string    `json:"session,omitempty"`
	Identity string    `json:"identity,omitempty"`
	Tool     string    `json:"tool"`
	Decision string    `json:"decision"`
	Monitor  bool      `json:"monitor,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	Reason   string    `json:"reason,omitempty"`
	Outcome  string    `json:"outcome,omitempty"`
}

// hub tails the audit directory and keeps the last decisions for the
// pages and the event streams.
type hub struct {
	dir  string
	keep int

	mu      sync.Mutex
	recent  []Decision
	next    int64
	changed chan struct{} // closed (and replaced) when decisions arrive
}

func newHub(dir string, keep int) *hub {
	return &hub{dir: dir, keep: keep, next: 1, changed: make(chan struct{})}
}

// run polls the audit trail until ctx ends.
func (h *hub) run(ctx context.Context, every time.Duration, log *slog.Logger) {
	if h.dir == "" {
		return
	}
	f := audit.NewFollower(h.dir)
	f.MaxBacklog = 4 << 20
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		var batch []Decision
		if _, err := f.Poll(func(_ audit.ChainFile, r *audit.Record) {
			if r.Event != audit.KindCall {
				return
			}
			batch = append(batch, Decision{Time: r.Time, Instance: r.Instance, Session: r.Session, Identity: r.Identity,
				Tool: r.Tool, Decision: r.Decision, Monitor: r.Monitor, Rule: r.Rule, Reason: r.Reason, Outcome: r.Outcome})
		}); err != nil {
			log.Warn("console: read the audit trail", "err", err)
		}
		if len(batch) > 0 {
			h.add(batch)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *hub) add(batch []Decision) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range batch {
		batch[i].N = h.next
		h.next++
	}
	h.recent = append(h.recent, batch...)
	if over := len(h.recent) - h.keep; over > 0 {
		h.recent = append(h.recent[:0:0], h.recent[over:]...)
	}
	close(h.changed)
	h.changed = make(chan struct{})
}

// since returns the decisions after n, and a channel closed when more come.
func (h *hub) since(n int64) ([]Decision, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Decision
	for _, d := range h.recent {
		if d.N > n {
			out = append(out, d)
		}
	}
	return out, h.changed
}

// filter is the decisions page's filter.
type filter struct {
	Tool, Decision, Text string
}

func (f filter) match(d Decision) bool {
	if f.Tool != "" && !strings.EqualFold(f.Tool, d.Tool) {
		return false
	}
	if f.Decision != "" && f.Decision != d.Decision {
		return false
	}
	if f.Text != "" {
		hay := strings.ToLower(strings.Join([]string{d.Instance, d.Session, d.Identity, d.Tool, d.Decision, d.Rule, d.Reason, d.Outcome}, "\x00"))
		if !strings.Contains(hay, strings.ToLower(f.Text)) {
			return false
		}
	}
	return true
}

// decisionKinds are the values of audit.Record.Decision the filter offers.
var decisionKinds = []string{"allow", "deny", "approval_required", "approval_requested", "approval_reused",
	"approval_consumed", "approval_denied", "approval_unverified", "hidden", "invalid"}

func (s *Server) decisionsPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := filter{Tool: q.Get("tool"), Decision: q.Get("decision"), Text: q.Get("q")}
	all, _ := s.live.since(0)
	var rows []Decision
	var last int64
	tools := map[string]bool{}
	for _, d := range all {
		last = d.N
		tools[d.Tool] = true
		if f.match(d) {
			rows = append(rows, d)
		}
	}
	// Newest first.
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	s.render(w, r, "decisions", map[string]any{"Title": "Live decisions", "Rows": rows, "Filter": f,
		"Kinds": decisionKinds, "Last": last, "AuditDir": s.cfg.AuditDir})
}

// events streams decisions as server-sent events: each is one JSON
// Decision, with its N as the event id, so a reconnecting browser
// (Last-Event-ID) misses none the console still holds.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	after, _ := strconv.ParseInt(r.Header.Get("Last-Event-ID"), 10, 64)
	if a, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64); err == nil && a > after {
		after = a
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	fl.Flush()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		batch, changed := s.live.since(after)
		for _, d := range batch {
			b, _ := json.Marshal(d)
			fmt.Fprintf(w, "id: %d\ndata: %s\n\n", d.N, b)
			after = d.N
		}
		if len(batch) > 0 {
			fl.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		}
	}
}
