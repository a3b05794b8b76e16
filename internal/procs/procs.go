// Package procs chooses how many processors (GOMAXPROCS) the process runs
// on, and lends it one more while a goroutine waits in the kernel for long.
//
// A process that serves one stdio session runs on one processor (see
// docs/performance.md, "One processor for one session"). A goroutine in a
// system call keeps its processor until the call returns or the runtime's
// monitor takes the processor back, and the monitor, when nothing needed
// it for a while, looks only every 10 ms: on one processor, an fsync of a
// few milliseconds (a SQLite checkpoint, an audit file's last sync) held
// every other goroutine of the process for its whole length, answers and
// calls too. Blocking runs such a call with a processor to spare, and
// Busy lends one while calls queue for the goroutines that judge them.
//
// A session whose calls are judged without waiting (no store, or the memory
// store) is served fastest on two processors while it has one call in
// flight, and on one once calls overlap: Quiet sets how many processors a
// quiet process has, and Loaded, which the pump calls whenever a request
// finds another one waiting for the server, takes it back to the chosen
// number until 50 ms pass without overlap.
package procs

import (
	"sync"
	"sync/atomic"
	"time"
)

var (
	mu     sync.Mutex
	set    func(int) int // runtime.GOMAXPROCS, given by Limit
	chosen int           // processors Limit chose; 0 until it was called
	lent   int           // Blocking calls running
	quiet  int           // processors while no call overlaps another (Quiet); 0: chosen
	cur    int           // what apply last set
)

// apply sets GOMAXPROCS to what chosen, lent, Busy's lend, quiet and
// Loaded's withdrawal say, when that changed. mu is held, and Limit was
// called.
func apply() {
	n := chosen
	if lent > 0 || busy.held {
		n = chosen + 1
	}
	if !loaded.held && quiet > n {
		n = quiet
	}
	if n != cur {
		set(n)
		cur = n
	}
}

// Limit makes the process run on n processors, by set (runtime.GOMAXPROCS;
// the caller passes it, so that a test binary that runs commands in its own
// process keeps its processors). It returns at once and makes the change on
// a goroutine of its own: changing GOMAXPROCS stops the world, which waits
// for a garbage collection in progress, and at start-up one usually is.
// While a Blocking call runs, the process keeps one processor more.
func Limit(setter func(int) int, n int) {
	if setter == nil || n < 1 {
		return
	}
	go func() {
		mu.Lock()
		defer mu.Unlock()
		// cur is what the last setter set: a new one sets its own.
		set, chosen, cur = setter, n, 0
		apply()
		limited.Store(true)
	}()
}

// Quiet makes a process whose processors Limit chose run on n of them
// while its calls do not overlap (see Loaded). It returns at once, as Limit
// does. Quiet(0) ends it.
func Quiet(n int) {
	quietOn.Store(n > 0)
	go func() {
		mu.Lock()
		defer mu.Unlock()
		quiet = n
		if chosen != 0 {
			apply()
		}
	}()
}

// Blocking runs f, a call that may wait in the kernel for long (an fsync),
// and returns when it does. If Limit chose the processors, the process has
// one more while f runs (and while any other Blocking call runs), then
// goes back to the chosen number. Otherwise f just runs. Lending costs two
// changes of GOMAXPROCS, each a short stop of the world: it is for calls
// that are rare and long, not for every write.
func Blocking(f func()) {
	mu.Lock()
	if chosen == 0 {
		mu.Unlock()
		f()
		return
	}
	lent++
	apply()
	mu.Unlock()
	defer func() {
		mu.Lock()
		lent--
		apply()
		mu.Unlock()
	}()
	f()
}

// limited is set once Limit was called.
var limited atomic.Bool

// A spell is a state that a signal starts and that lasts until a stretch of
// its linger passes without one: Busy's lend and Loaded's withdrawal.
type spell struct {
	linger time.Duration
	on     atomic.Bool // the spell is being started, holds, or is being ended
	seen   atomic.Bool // signalled since the spell last looked
	held   bool        // under mu: the spell holds (apply reads it)
}

var (
	busy   = &spell{linger: 50 * time.Millisecond}
	loaded = &spell{linger: 50 * time.Millisecond}
)

// signal starts the spell, or keeps it. It never waits: the change is made
// on a goroutine of its own (changing GOMAXPROCS waits for a garbage
// collection in progress), and a signal while the spell holds costs a few
// atomic loads.
func (s *spell) signal() {
	if !s.seen.Load() {
		s.seen.Store(true)
	}
	if s.on.Load() || !s.on.CompareAndSwap(false, true) {
		return
	}
	go s.begin()
}

// begin starts the spell, and has check end it.
func (s *spell) begin() {
	mu.Lock()
	defer mu.Unlock()
	s.seen.Store(false)
	s.held = true
	apply()
	time.AfterFunc(s.linger, s.check)
}

// check ends the spell when it was not signalled for its linger, and looks
// again a linger later otherwise.
func (s *spell) check() {
	if s.seen.Swap(false) {
		time.AfterFunc(s.linger, s.check)
		return
	}
	mu.Lock()
	defer mu.Unlock()
	// Cleared first: a signal from now on starts a new spell, which waits
	// for this one to end.
	s.on.Store(false)
	s.held = false
	apply()
}

// Busy says that goroutines of the process wait on one another: more calls
// to judge than one goroutine keeps up with, each of them in and out of a
// store's system calls. If Limit chose the processors, the process has one
// more until a stretch of 50 ms passes without a call to Busy: a single
// call in flight keeps the one processor that serves it fastest, and a
// burst gets the second core that serves it fastest (measured,
// docs/performance.md). Busy never waits.
func Busy() {
	if limited.Load() {
		busy.signal()
	}
}

// quietOn is set while Quiet asks for processors (n > 0).
var quietOn atomic.Bool

// Loaded says that the process's calls overlap: a request came while
// another was still waiting for the server. If Quiet gave the process more
// processors than Limit chose, it goes back to the chosen number until a
// stretch of 50 ms passes without a call to Loaded. Overlapping calls keep
// the processors busy on their own, and a second processor then mostly
// spins on the cores the client and the server need; one call at a time
// is answered sooner with the second (measured, docs/performance.md).
// Loaded never waits; the pump calls it for every overlapping message.
func Loaded() {
	if limited.Load() && quietOn.Load() {
		loaded.signal()
	}
}
