package ledger

import (
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

func TestParseIDReversesAppendID(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	for _, ch := range []state.Charge{
		{Key: state.Key{Scope: "tool", Counter: "calls", Who: "global"}, Window: time.Minute},
		{Key: state.Key{Scope: "a/b:c", Counter: "7:x/s", Who: "identity:/c/UTC"}, Window: 24 * time.Hour, Align: state.Calendar, Location: ny},
		{Key: state.Key{Scope: "", Counter: "", Who: ""}, Window: 1, Align: state.Calendar},
	} {
		id := string(AppendID(nil, &ch))
		window, calendar, loc, err := ParseID(id)
		if err != nil {
			t.Fatalf("ParseID(%q): %v", id, err)
		}
		if window != ch.Window || calendar != (ch.Align == state.Calendar) || (calendar && loc != locName(ch.Location)) {
			t.Errorf("ParseID(%q) = %v, %v, %q; want %v, %v, %q", id, window, calendar, loc, ch.Window, ch.Align == state.Calendar, locName(ch.Location))
		}
	}
	for _, bad := range []string{"", "3:ab", "1:a1:b1:c", "1:a1:b1:c/0/s", "1:a1:b1:c/60/x", "1:a1:b1:c/60/c/", "9:a1:b1:c/60/s"} {
		if _, _, _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) succeeded", bad)
		}
	}
}

// An event another process's clock put in the next calendar window survives
// this counter's move into that window.
func TestCalendarRollKeepsEventsOfTheNewWindow(t *testing.T) {
	ch := state.Charge{Window: time.Hour, Align: state.Calendar}
	c := New(&ch)
	t0 := time.Date(2025, 3, 11, 14, 59, 59, 0, time.UTC).UnixNano()
	c.Advance(t0)
	one := dec("1")
	c.Append(t0, &one, Tag{Res: "a"})
	next := time.Date(2025, 3, 11, 15, 0, 0, 1, time.UTC).UnixNano()
	c.Load(next, &one, Tag{Res: "b"})
	if got := c.TotalAt(next); got.String() != "1" {
		t.Errorf("TotalAt in the next window = %s, want 1", &got)
	}
	var dropped []string
	c.AdvanceDrop(next+1, func(e *Event) { dropped = append(dropped, e.Res) })
	if len(dropped) != 1 || dropped[0] != "a" || c.Total.String() != "1" {
		t.Errorf("after the roll: dropped %v, total %s; want [a], 1", dropped, &c.Total)
	}
}

func dec(s string) decimal.Decimal {
	d, err := decimal.Parse(s)
	if err != nil {
		panic(err)
	}
	return d
}
