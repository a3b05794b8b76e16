package mcptest

import (
	"testing"
	"time"
)

// Eventually checks cond until it reports true and fails the test, naming
// what it waited for, if timeout passes first. It is the tests' one poll
// loop, for a condition no event announces (a counter behind another
// goroutine, a file another process writes): it checks at once, then at
// growing intervals of 1 ms to 50 ms, and once more at the deadline. Call it
// from the test's goroutine, as Fatal requires; it works inside a
// testing/synctest bubble too (the wait is on timers).
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, what string) {
	tb.Helper()
	if cond() {
		return
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	interval := time.Millisecond
	tick := time.NewTimer(interval)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			if cond() {
				return
			}
			tb.Fatalf("gave up after %v waiting for %s", timeout, what)
			return
		case <-tick.C:
			if cond() {
				return
			}
			interval = min(2*interval, 50*time.Millisecond)
			tick.Reset(interval)
		}
	}
}
