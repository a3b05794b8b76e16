package procs

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// fake records what Limit and Blocking set GOMAXPROCS to.
type fake struct {
	mu  sync.Mutex
	n   int
	log []int
}

func (f *fake) set(n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.n
	f.n = n
	f.log = append(f.log, n)
	return old
}

func (f *fake) now() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

// reset forgets what an earlier test chose.
func reset(t *testing.T) {
	t.Helper()
	mu.Lock()
	set, chosen, lent, quiet, cur = nil, 0, 0, 0, 0
	limited.Store(false)
	quietOn.Store(false)
	for _, sp := range []*spell{busy, loaded} {
		sp.on.Store(false)
		sp.seen.Store(false)
		sp.held = false
	}
	mu.Unlock()
}

// limit calls Limit and waits for its goroutine to have made the change.
func limit(t *testing.T, setter func(int) int, n int) {
	t.Helper()
	Limit(setter, n)
	waitFor(t, "Limit made no change", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return chosen == n
	})
}

func TestBlockingWithoutLimitJustRuns(t *testing.T) {
	reset(t)
	ran := false
	Blocking(func() { ran = true })
	if !ran {
		t.Fatal("f did not run")
	}
	mu.Lock()
	defer mu.Unlock()
	if lent != 0 || chosen != 0 {
		t.Fatalf("lent %d, chosen %d: nothing should be recorded", lent, chosen)
	}
}

func TestBlockingLendsOneProcessor(t *testing.T) {
	reset(t)
	f := &fake{n: 2}
	limit(t, f.set, 1)
	if got := f.now(); got != 1 {
		t.Fatalf("after Limit(1): GOMAXPROCS %d, want 1", got)
	}
	var during int
	Blocking(func() { during = f.now() })
	if during != 2 {
		t.Errorf("during Blocking: GOMAXPROCS %d, want 2", during)
	}
	if got := f.now(); got != 1 {
		t.Errorf("after Blocking: GOMAXPROCS %d, want 1", got)
	}
}

func TestBlockingCallsOverlap(t *testing.T) {
	reset(t)
	f := &fake{n: 2}
	limit(t, f.set, 1)
	inA, releaseA := make(chan struct{}), make(chan struct{})
	doneA := make(chan struct{})
	go func() {
		defer close(doneA)
		Blocking(func() { close(inA); <-releaseA })
	}()
	<-inA
	var during int
	Blocking(func() { during = f.now() })
	if during != 2 {
		t.Errorf("second Blocking: GOMAXPROCS %d, want 2", during)
	}
	if got := f.now(); got != 2 {
		t.Errorf("first Blocking still running: GOMAXPROCS %d, want 2", got)
	}
	close(releaseA)
	<-doneA
	if got := f.now(); got != 1 {
		t.Errorf("after both: GOMAXPROCS %d, want 1", got)
	}
	// One lend for the two: 1 (Limit), 2, 1.
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.log) != 3 {
		t.Errorf("GOMAXPROCS set %v times (%v), want 3", len(f.log), f.log)
	}
}

func TestLimitWhileBlocking(t *testing.T) {
	reset(t)
	f := &fake{n: 4}
	limit(t, f.set, 1)
	Blocking(func() {
		limit(t, f.set, 2)
		if got := f.now(); got != 3 {
			t.Errorf("Limit(2) during Blocking: GOMAXPROCS %d, want 3", got)
		}
	})
	if got := f.now(); got != 2 {
		t.Errorf("after Blocking: GOMAXPROCS %d, want 2", got)
	}
}

// TestBlockingRuntime lends a real processor: while f runs, the runtime has
// two, after it one.
func TestBlockingRuntime(t *testing.T) {
	reset(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	limit(t, runtime.GOMAXPROCS, 1)
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("after Limit(1): GOMAXPROCS %d", got)
	}
	var during int
	Blocking(func() { during = runtime.GOMAXPROCS(0) })
	if during != 2 {
		t.Errorf("during Blocking: GOMAXPROCS %d, want 2", during)
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("after Blocking: GOMAXPROCS %d, want 1", got)
	}
	reset(t)
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestBusyLendsUntilQuiet(t *testing.T) {
	reset(t)
	defer func(d time.Duration) { busy.linger = d }(busy.linger)
	busy.linger = time.Second
	f := &fake{n: 2}
	Busy() // before Limit: nothing to lend
	if busy.on.Load() {
		t.Fatal("Busy lent a processor before Limit chose any")
	}
	limit(t, f.set, 1)
	Busy()
	waitFor(t, "Busy lent no processor", func() bool { return f.now() == 2 })
	// Calls within the linger keep the lend: no change.
	for range 20 {
		Busy()
		time.Sleep(time.Millisecond)
	}
	// A Blocking call inside the lend changes nothing either.
	Blocking(func() {})
	if got := f.now(); got != 2 {
		t.Fatalf("busy: GOMAXPROCS %d, want 2", got)
	}
	f.mu.Lock()
	if want := []int{1, 2}; len(f.log) != 2 {
		t.Errorf("GOMAXPROCS set to %v while busy, want %v", f.log, want)
	}
	f.mu.Unlock()
	// Quiet for the linger: back to one.
	waitFor(t, "the lend never ended", func() bool { return f.now() == 1 && !busy.on.Load() })
	// A new busy stretch lends again, and ends again.
	Busy()
	waitFor(t, "the second stretch lent no processor", func() bool { return f.now() == 2 })
	waitFor(t, "the second lend never ended", func() bool { return f.now() == 1 && !busy.on.Load() })
}

// TestQuietUntilLoaded: Quiet gives a quiet process its processors;
// overlapping calls (Loaded) take it back to the chosen number until they
// stop for the linger, and Busy and Blocking lend on top of the chosen
// number only.
func TestQuietUntilLoaded(t *testing.T) {
	reset(t)
	defer func(d time.Duration) { loaded.linger = d }(loaded.linger)
	loaded.linger = time.Second
	f := &fake{n: 2}
	Loaded() // before Limit and Quiet: nothing to take back
	if loaded.on.Load() {
		t.Fatal("Loaded acted before Limit chose any processors")
	}
	limit(t, f.set, 1)
	Loaded() // before Quiet: nothing to take back either
	if loaded.on.Load() {
		t.Fatal("Loaded acted without Quiet")
	}
	Quiet(2)
	waitFor(t, "Quiet gave no processor", func() bool { return f.now() == 2 })
	Loaded()
	waitFor(t, "Loaded took no processor back", func() bool { return f.now() == 1 })
	// Calls within the linger keep it at one; a Blocking call lends one
	// for its length.
	for range 20 {
		Loaded()
		time.Sleep(time.Millisecond)
	}
	Blocking(func() {
		if got := f.now(); got != 2 {
			t.Errorf("loaded, blocking: GOMAXPROCS %d, want 2", got)
		}
	})
	if got := f.now(); got != 1 {
		t.Fatalf("loaded: GOMAXPROCS %d, want 1", got)
	}
	// No overlap for the linger: quiet again.
	waitFor(t, "the process never became quiet again", func() bool { return f.now() == 2 && !loaded.on.Load() })
	// Quiet, a Blocking call needs no more than the two it has.
	Blocking(func() {
		if got := f.now(); got != 2 {
			t.Errorf("quiet, blocking: GOMAXPROCS %d, want 2", got)
		}
	})
	Loaded()
	waitFor(t, "the second stretch took no processor back", func() bool { return f.now() == 1 })
	waitFor(t, "the second stretch never ended", func() bool { return f.now() == 2 && !loaded.on.Load() })
	Quiet(0)
	waitFor(t, "Quiet(0) kept the quiet processor", func() bool { return f.now() == 1 })
}
