package state

import (
	"errors"
	"fmt"
	"time"
)

const day = 24 * time.Hour

// CalendarBounds returns the fixed window [start, end) that contains now for a
// calendar-aligned counter, measured on the wall clock of loc (nil means UTC).
//
//   - A window shorter than a day is aligned to multiples of itself since local
//     midnight (":00" for minutes, the hour for hours); the last window of a
//     day ends at the next midnight when the window does not divide a day.
//   - A window of exactly 7 days starts on Monday at local midnight.
//   - Any other whole number of days starts at local midnight on a day whose
//     number since 1970-01-01 is a multiple of that count (1 day: every day).
//   - Anything else (longer than a day but not whole days) is aligned to
//     multiples of the window since the Unix epoch.
//
// Days follow the local calendar, so a day that changes daylight saving time
// lasts 23 or 25 hours. The result always satisfies start <= now < end.
func CalendarBounds(now time.Time, window time.Duration, loc *time.Location) (start, end time.Time) {
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	y, m, d := t.Date()
	switch {
	case window <= 0:
		return now, now.Add(1)
	case window%day == 0:
		days := int(window / day)
		var off int
		if days == 7 {
			off = (int(t.Weekday()) + 6) % 7
		} else {
			n := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
			off = int(floorMod(n, int64(days)))
		}
		start = time.Date(y, m, d-off, 0, 0, 0, 0, loc)
		end = time.Date(y, m, d-off+days, 0, 0, 0, 0, loc)
	case window < day:
		wall := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
			time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
		k := wall / window
		start = time.Date(y, m, d, 0, 0, 0, int(k*window), loc)
		end = time.Date(y, m, d, 0, 0, 0, int((k+1)*window), loc)
		if next := time.Date(y, m, d+1, 0, 0, 0, 0, loc); end.After(next) {
			end = next
		}
	default:
		ns := now.UnixNano()
		s := ns - floorMod(ns, int64(window))
		start = time.Unix(0, s).In(loc)
		end = start.Add(window)
	}
	// Wall-clock arithmetic around a daylight-saving change can land on the
	// wrong side of now; keep the promise start <= now < end.
	if start.After(now) {
		start = now
	}
	if !end.After(now) {
		end = start.Add(window)
		if !end.After(now) {
			end = now.Add(window)
		}
	}
	return start, end
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// ErrInvalidCharge is wrapped by the error Reserve returns for a charge that
// breaks the Charge contract (non-positive amount or window, negative
// limit, non-finite decimal). It never wraps ErrUnavailable: it is a caller bug.
var ErrInvalidCharge = errors.New("invalid charge")

// Validate checks charges against the Charge contract; every backend calls it
// first in Reserve.
func Validate(charges []Charge) error {
	for i := range charges {
		c := &charges[i]
		switch {
		case c.Window <= 0:
			return fmt.Errorf("charge %d (%s): window %v must be positive: %w", i, c.Key, c.Window, ErrInvalidCharge)
		case c.Limit.Sign() < 0:
			return fmt.Errorf("charge %d (%s): limit %s must not be negative: %w", i, c.Key, &c.Limit, ErrInvalidCharge)
		case c.Amount.Sign() <= 0:
			return fmt.Errorf("charge %d (%s): amount %s must be positive: %w", i, c.Key, &c.Amount, ErrInvalidCharge)
		case c.Align != Sliding && c.Align != Calendar:
			return fmt.Errorf("charge %d (%s): unknown align %d: %w", i, c.Key, c.Align, ErrInvalidCharge)
		}
	}
	return nil
}
