package proxy

import "time"

// SetSlowStore sets slowStore for the pumps started from now on and
// returns a function that puts it back.
func SetSlowStore(d time.Duration) (restore func()) {
	old := slowStore
	slowStore = d
	return func() { slowStore = old }
}
