package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/mux"
)

// warm keeps one server running for the stateless (2026-07-28) requests
// the gateway serves over HTTP: each such request is a session of its own
// (transport.Session.OneShot), whose links attach to the warm server
// through a mux instead of starting it. The mux rewrites ids, so requests
// of many sessions share the server without seeing each other's answers,
// and answers every initialize after the first from the first's result.
//
// A warm server that ends is started again by the next request that
// needs it, but not before a backoff (Gateway.Backoff) has passed since it
// ended: a server that dies at once is not started again at the rate
// requests arrive.
//
// It also keeps the server's tool names as its pump lists them (read by
// the first request that needs them), for ListTTL, so that a call through
// a one-shot session does not read the whole list first.
type warm struct {
	g   *Gateway
	srv *Server

	mu        sync.Mutex
	mux       *mux.Mux
	release   func()
	gen       uint64    // bumped each time the server is started
	served    uint64    // the last incarnation that answered an initialize
	result    []byte    // its initialize result (owned; never changed)
	since     time.Time // when the current incarnation was started
	fails     int       // consecutive incarnations that ended (or failed to start) early
	notBefore time.Time // no start before this
	closed    bool
	up        bool // the last state reported to OnChange
	reported  bool // whether any state was

	known      map[string]bool // tool names, nil when not known
	knownGen   uint64          // the incarnation they were read from
	knownAt    time.Time
	knownEpoch uint64 // bumped by forget, so that a reading begun before is not kept
}

// ListTTL bounds how long the tool names a warm server listed are used to
// route one-shot sessions' calls without reading its list again. A server
// that says its list changed is read again at once.
const ListTTL = 2 * time.Second

func newWarm(g *Gateway, srv *Server) *warm { return &warm{g: g, srv: srv} }

// attach returns a conn to the warm server (starting it when it is not
// running and its backoff has passed) and the incarnation it belongs to.
// The conn's Close detaches; the server keeps running.
func (w *warm) attach(ctx context.Context) (transport.Conn, uint64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, 0, transport.ErrClosed
	}
	now := time.Now()
	if w.mux != nil {
		select {
		case <-w.mux.Done():
			w.endedLocked(now, w.mux.Err())
		default:
			return w.mux.Attach(), w.gen, nil
		}
	}
	if now.Before(w.notBefore) {
		return nil, 0, fmt.Errorf("server %s is down; it is started again in %s", w.srv.Name, w.notBefore.Sub(now).Round(time.Millisecond))
	}
	conn, release, err := w.srv.Dial.Dial(context.WithoutCancel(ctx), &transport.Session{ID: "stateless"})
	if err != nil {
		w.failedLocked(now)
		w.report(false, err)
		return nil, 0, err
	}
	w.mux, w.release, w.since = mux.New(conn, w.g.opts.Logger), release, now
	w.gen++
	w.g.opts.Logger.Info("gateway: server started for stateless requests", "server", w.srv.Name)
	return w.mux.Attach(), w.gen, nil
}

// endedLocked retires the current incarnation, which has ended.
func (w *warm) endedLocked(now time.Time, err error) {
	_ = w.mux.Close()
	if rel := w.release; rel != nil {
		go rel() // it ended: stopping what is left must not hold up a request
	}
	w.mux, w.release = nil, nil
	if w.served == w.gen && now.Sub(w.since) >= w.g.opts.MaxBackoff {
		w.fails = 0 // it served long enough: start the backoff over
	}
	w.failedLocked(now)
	if err == nil {
		err = fmt.Errorf("the server ended")
	}
	w.g.opts.Logger.Warn("gateway: server for stateless requests ended", "server", w.srv.Name, "err", err, "restart after", w.notBefore.Sub(now))
	w.report(false, err)
}

func (w *warm) failedLocked(now time.Time) {
	w.notBefore = now.Add(w.g.Backoff(w.fails))
	w.fails++
}

// hung is told by a one-shot session's link that incarnation gen did not
// answer its initialize in time: it is stopped, and started again after
// its backoff, so that later requests are not held up by it.
func (w *warm) hung(gen uint64, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gen == w.gen && w.mux != nil {
		w.endedLocked(time.Now(), err)
	}
}

// initialized is told by a one-shot session's link that the incarnation
// gen answered its initialize with result: the server is up.
func (w *warm) initialized(gen uint64, result []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gen == w.gen && w.mux != nil {
		if w.served != gen {
			w.result = result
		}
		w.served = gen
		w.report(true, nil)
	}
}

// initResult returns the initialize result of incarnation gen, when it is
// the current one and answered one: later sessions attached to it need
// not initialize it again (the mux would answer from the same result).
func (w *warm) initResult(gen uint64) []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gen == w.gen && w.served == gen && w.mux != nil {
		return w.result
	}
	return nil
}

// report tells OnChange of a change of state (with w.mu held).
func (w *warm) report(up bool, err error) {
	if w.reported && w.up == up {
		return
	}
	w.up, w.reported = up, true
	if w.g.opts.OnChange != nil {
		w.g.opts.OnChange(w.srv.Name, up, err)
	}
}

// names returns the tool names read from incarnation gen within ListTTL,
// nil when there are none.
func (w *warm) names(gen uint64) map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.known == nil || w.knownGen != gen || time.Since(w.knownAt) > ListTTL {
		return nil
	}
	return w.known
}

// epoch returns the current list epoch, to pass to keep.
func (w *warm) epoch() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.knownEpoch
}

// keep stores the tool names read from incarnation gen, unless the server
// said its list changed since the reading began (epoch).
func (w *warm) keep(gen, epoch uint64, names map[string]bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if epoch != w.knownEpoch || gen != w.gen {
		return
	}
	w.known, w.knownGen, w.knownAt = names, gen, time.Now()
}

// forget drops the tool names: the server said its list changed.
func (w *warm) forget() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.known = nil
	w.knownEpoch++
}

// close stops the server, and refuses later attaches.
func (w *warm) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.mux != nil {
		_ = w.mux.Close()
	}
	if w.release != nil {
		w.release()
	}
	w.mux, w.release = nil, nil
}
