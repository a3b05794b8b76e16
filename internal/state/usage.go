package state

import (
	"sort"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
)

// CounterUsage is what one counter has used in its current window: a
// read-only view for people (the console), never consulted by a decision.
type CounterUsage struct {
	Key      Key
	Window   time.Duration
	Align    Align
	Location string // calendar windows: the location's name
	// Used is the counter's total in the window at the time asked.
	Used decimal.Decimal
	// Charges is how many recorded charges make up Used.
	Charges int
}

// SortUsage orders us by scope, counter, who and window.
func SortUsage(us []CounterUsage) {
	sort.Slice(us, func(i, j int) bool {
		a, b := us[i], us[j]
		if a.Key != b.Key {
			return a.Key.String() < b.Key.String()
		}
		return a.Window < b.Window
	})
}
