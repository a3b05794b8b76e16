package cli

import (
	"log/slog"
	"os"
	"strings"
)

// MaxProcs sets GOMAXPROCS; the tollgate command sets it to
// runtime.GOMAXPROCS. Left nil (as in tests that run commands in their own
// process) nothing is changed.
var MaxProcs func(n int) int

// oneCore runs a tollgate that serves one stdio session on one processor
// (GOMAXPROCS=1), unless the GOMAXPROCS environment variable chooses or a
// gate keeps its counters in SQLite. Such a process does a few
// microseconds of work per message, and with a second processor the Go
// scheduler wakes a second thread for every goroutine it readies, which
// spins looking for work on cores the client and the server need: measured
// (docs/performance.md, "One processor for one session"), one processor
// cuts the CPU a call costs by a third. SQLite's file locks and writes are
// blocking system calls; with one processor every other goroutine would
// wait out each of them, so a SQLite store keeps the default: counters
// says whether a gate of the process will keep counters in the store the
// flags name.
//
// The change is made on a goroutine of its own: changing GOMAXPROCS stops
// the world, which waits for a garbage collection in progress, and at
// start-up one usually is (1.5-3.9 ms measured in place, on the path to the
// first answer).
func oneCore(logger *slog.Logger, f *stateFlags, counters bool) {
	if MaxProcs == nil || os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if counters && f.onSQLite() {
		return
	}
	go MaxProcs(1)
	logger.Debug("serving one stdio session on one processor (GOMAXPROCS=1; set GOMAXPROCS to choose)")
}

// onSQLite reports whether the flags name a SQLite store (the default).
func (f *stateFlags) onSQLite() bool {
	return f.state == "" || strings.HasPrefix(f.state, "sqlite://")
}
