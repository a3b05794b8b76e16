package cli

import (
	"log/slog"
	"os"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/procs"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// MaxProcs sets GOMAXPROCS; the tollgate command sets it to
// runtime.GOMAXPROCS. Left nil (as in tests that run commands in their own
// process) nothing is changed.
var MaxProcs func(n int) int

// oneCore runs a tollgate that serves one stdio session on one processor
// (GOMAXPROCS=1), unless the GOMAXPROCS environment variable chooses. Such
// a process does a few microseconds of work per message, and with a second
// processor the Go scheduler wakes a second thread for every goroutine it
// readies, which spins looking for work on cores the client and the server
// need: measured (docs/performance.md, "One processor for one session"),
// one processor cuts the CPU a call costs by a third. The system calls
// that can block for long (a SQLite checkpoint's fsyncs, an audit file's
// last sync) run under procs.Blocking, which lends the process a second
// processor for their length; SQLite's commits write without an fsync and
// its waits for another process's lock sleep in Go, not in the kernel. A
// burst of calls queued for a store is lent one too (procs.Busy, called by
// the pump), and a session whose calls wait on no store has two while they
// come one at a time (quietCores).
//
// The change is made on a goroutine of its own (see procs.Limit).
func oneCore(logger *slog.Logger) {
	if MaxProcs == nil || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	procs.Limit(MaxProcs, 1)
	logger.Debug("serving one stdio session on one processor (GOMAXPROCS=1; set GOMAXPROCS to choose)")
}

// quietCores gives a process that oneCore put on one processor a second one
// while its calls do not overlap (procs.Quiet; the pump calls procs.Loaded
// when a request comes while another waits for the server), when every
// gate judges its calls without waiting: no store, or one that never
// blocks. One call at a time is then answered sooner on two processors,
// and overlapping calls are served better on one (measured,
// docs/performance.md, "One processor for one session"). A store that
// blocks keeps one processor with calls one at a time, as measured too.
func quietCores(logger *slog.Logger, gates ...*gate.Gate) {
	if MaxProcs == nil || os.Getenv("GOMAXPROCS") != "" || !judgedWithoutWaiting(gates) {
		return
	}
	procs.Quiet(2)
	logger.Debug("a second processor while calls do not overlap")
}

// judgedWithoutWaiting reports whether every gate judges its calls without
// waiting on a store: it has none, or one that never blocks.
func judgedWithoutWaiting(gates []*gate.Gate) bool {
	for _, g := range gates {
		if g.Store != nil && !state.IsNonBlocking(g.Store) {
			return false
		}
	}
	return true
}
