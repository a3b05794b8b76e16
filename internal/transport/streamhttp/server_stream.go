package streamhttp

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// maxStreamEvents bounds the events one stream keeps for resumption; the
// oldest are dropped beyond it (a client resuming from one of them gets
// what is left).
const maxStreamEvents = 1024

// event is one SSE event of a stream; seq numbers the events of a stream
// from 1.
type event struct {
	seq     int64
	data    []byte // nil for a priming event
	priming bool
}

// stream is one logical SSE stream of a session: the answer stream of a
// POSTed request (or batch), or the session's standalone GET stream
// (number 0). It keeps its events so that a client can resume it with
// Last-Event-ID; at most one HTTP connection writes it at a time. Its
// methods are safe for concurrent use.
type stream struct {
	num  int64
	json bool // the client takes one JSON answer, not an event stream

	tag string // the session's event id tag (see appendEventID)

	mu       sync.Mutex
	events   []event
	next     int64 // seq of the next event
	sent     int64 // highest seq written to a connection
	final    bool  // the answer is in; the stream ends once it is written
	holder   *holder
	ids      []string // canonical ids of the requests it answers
	tokens   []string // canonical progress tokens of those requests
	wake     chan struct{}
	finished chan struct{} // closed when final
	// first holds the first events: an answer stream's priming event
	// and answer, without a slice of their own.
	first [2]event
}

func newStream(num int64, json bool) *stream {
	st := &stream{num: num, json: json, next: 1, wake: make(chan struct{}, 1), finished: make(chan struct{})}
	st.events = st.first[:0]
	return st
}

// push appends an event (data is copied) and wakes the writer. A final
// push ends the stream; nothing is appended after it.
func (st *stream) push(data []byte, final bool) bool {
	st.mu.Lock()
	if st.final {
		st.mu.Unlock()
		return false
	}
	st.appendLocked(event{data: append([]byte(nil), data...)})
	if final {
		st.final = true
		close(st.finished)
	}
	st.mu.Unlock()
	st.notify()
	return true
}

// prime appends a priming event: an id and empty data, so that a client
// can resume from the very start.
func (st *stream) prime() {
	st.mu.Lock()
	st.appendLocked(event{priming: true})
	st.mu.Unlock()
}

func (st *stream) appendLocked(ev event) {
	ev.seq = st.next
	st.next++
	if len(st.events) >= maxStreamEvents {
		copy(st.events, st.events[1:])
		st.events = st.events[:len(st.events)-1]
	}
	st.events = append(st.events, ev)
}

func (st *stream) notify() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// since appends the events after seq to dst, and reports whether the
// stream is final.
func (st *stream) since(dst []event, seq int64) ([]event, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	i := len(st.events)
	for i > 0 && st.events[i-1].seq > seq {
		i--
	}
	return append(dst, st.events[i:]...), st.final
}

// holder is the one connection writing a stream. kick is closed to ask it
// to let go; gone is closed once it has.
type holder struct {
	kick     chan struct{}
	gone     chan struct{}
	kickOnce sync.Once
}

// attach claims the stream for one connection. When another connection
// holds it, attach fails, unless takeOver: then that connection is told to
// let go and attach waits for it (or for ctx). A resuming client takes
// over, because the connection it lost may not have noticed yet (the
// server learns of a dropped connection only when it next reads or writes
// it, which for a dead peer can take minutes); refusing the resumption
// would leave the answer undelivered until then.
func (st *stream) attach(ctx context.Context, takeOver bool) (*holder, bool) {
	for {
		st.mu.Lock()
		h := st.holder
		if h == nil {
			h = &holder{kick: make(chan struct{}), gone: make(chan struct{})}
			st.holder = h
			st.mu.Unlock()
			return h, true
		}
		st.mu.Unlock()
		if !takeOver {
			return nil, false
		}
		h.kickOnce.Do(func() { close(h.kick) })
		select {
		case <-h.gone:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// detach lets go of the stream claimed by h.
func (st *stream) detach(h *holder) {
	st.mu.Lock()
	if st.holder == h {
		st.holder = nil
	}
	st.mu.Unlock()
	close(h.gone)
}

func (st *stream) isFinal() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.final
}

func (st *stream) markSent(seq int64) {
	st.mu.Lock()
	if seq > st.sent {
		st.sent = seq
	}
	st.mu.Unlock()
}

func (st *stream) sentSeq() int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sent
}

// finalAnswer returns the last event's data once the stream is final.
func (st *stream) finalAnswer() []byte {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.final || len(st.events) == 0 {
		return nil
	}
	return st.events[len(st.events)-1].data
}

// appendEventID appends the id of event seq of stream num of the session
// tagged tag to b: TAG_NUM_SEQ, unique within the session, saying which
// stream it belongs to, and, by the tag, which session: an event id of
// another session is refused, never taken for the stream of this one that
// has the same number. It is built in the caller's buffer: no string per
// event.
func appendEventID(b []byte, tag string, num, seq int64) []byte {
	b = append(b, tag...)
	b = append(b, '_')
	b = strconv.AppendInt(b, num, 10)
	b = append(b, '_')
	return strconv.AppendInt(b, seq, 10)
}

// parseEventID reads an id appendEventID wrote.
func parseEventID(s string) (tag string, num, seq int64, ok bool) {
	tag, rest, found := strings.Cut(s, "_")
	a, b, found2 := strings.Cut(rest, "_")
	if !found || !found2 || tag == "" {
		return "", 0, 0, false
	}
	n, err1 := strconv.ParseInt(a, 10, 64)
	q, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || n < 0 || q < 0 {
		return "", 0, 0, false
	}
	return tag, n, q, true
}

// resumable reports whether a client may resume the stream after event
// seq: the stream is an event stream, and seq is an event it was sent (or
// 0, before the first).
func (st *stream) resumable(seq int64) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return !st.json && seq < st.next && seq <= st.sent
}

// sseOptions say how serveSSE writes a stream.
type sseOptions struct {
	ids       bool            // write event ids (resumable streams)
	retry     time.Duration   // retry field on priming events
	keepAlive time.Duration   // comment interval on idle streams, 0: none
	header    http.Header     // extra response headers
	drain     <-chan struct{} // closed when the server drains, nil: never
	kicked    <-chan struct{} // closed when another connection takes the stream over
	// hold is how long the header may wait for the stream's first
	// message, so that a quick answer leaves with the header and the end
	// of the response in one write (and the client wakes once). 0: the
	// header goes out at once. A slow call gets its header after hold.
	hold time.Duration
}

// postHold is sseOptions.hold for the stream that answers a POST: longer
// than most quick tool calls take through Tollgate under load, short
// enough that no client's header timeout notices.
const postHold = 50 * time.Millisecond

// serveSSE writes st's events after cursor to w until the stream is final
// and fully written, the client goes away, or stop is closed. It returns
// whether the whole stream was written.
func serveSSE(w http.ResponseWriter, r *http.Request, st *stream, cursor int64, stop <-chan struct{}, o sseOptions) bool {
	h := w.Header()
	for k, v := range o.header {
		h[k] = v
	}
	h[keyContentType] = valEventStream
	h[keyCacheControl] = valNoCache
	h[keyAccelBuffering] = valNo
	w.WriteHeader(http.StatusOK)
	// The header and the events available now go out together, and a
	// final answer together with the end of the response: one write for a
	// call answered before the first flush instead of four.
	sw := sse.NewWriter(w)
	defer sw.Release()
	var tick <-chan time.Time
	if o.keepAlive > 0 {
		t := time.NewTicker(o.keepAlive)
		defer t.Stop()
		tick = t.C
	}
	// write sends the events after cursor; it reports whether the stream
	// is final, and false for ok when the connection failed.
	var evBuf [2]event // the events of one write, usually no more
	var idBuf [64]byte
	write := func() (final, ok bool) {
		evs, final := st.since(evBuf[:0], cursor)
		for _, ev := range evs {
			e := sse.Event{Data: ev.data}
			if ev.priming {
				if !o.ids {
					cursor = ev.seq
					continue
				}
				e.Retry = o.retry
			}
			var err error
			if o.ids {
				err = sw.WriteDeferredID(appendEventID(idBuf[:0], st.tag, st.num, ev.seq), e)
			} else {
				err = sw.WriteDeferred(e)
			}
			if err != nil {
				return false, false
			}
			cursor = ev.seq
			st.markSent(cursor)
		}
		return final, true
	}
	// While holding, the header waits for the first message (see
	// sseOptions.hold); held fires when it has waited long enough. The
	// timer is started only when the answer is not in at the first write,
	// so that a quick call costs none.
	holding := o.hold > 0
	var held <-chan time.Time
	var holdTimer *time.Timer
	defer func() {
		if holdTimer != nil {
			holdTimer.Stop()
		}
	}()
	for {
		final, ok := write()
		if !ok {
			return false
		}
		if final {
			return true // the server flushes the rest as the handler returns
		}
		if !holding {
			sw.Flush()
		} else if holdTimer == nil {
			holdTimer = time.NewTimer(o.hold)
			held = holdTimer.C
		}
		select {
		case <-st.wake:
			holding, held = false, nil // the first message: with the header if it is the answer
		case <-held:
			holding, held = false, nil
		case <-tick:
			if err := sw.Comment("keep-alive"); err != nil {
				return false
			}
		case <-r.Context().Done():
			return false
		case <-o.kicked:
			return false // a resumption goes on from the client's last event
		case <-stop:
			// What came in before the end (the answer, often: the pump
			// ends once it is in) still goes out.
			final, ok := write()
			return ok && final
		case <-o.drain:
			final, ok := write()
			return ok && final
		}
	}
}
