package state

import (
	"testing"
	"time"
)

func TestCalendarBounds(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	tests := []struct {
		name       string
		now        time.Time
		window     time.Duration
		loc        *time.Location
		start, end time.Time
	}{
		{"minute", time.Date(2025, 3, 11, 14, 59, 30, 5, time.UTC), time.Minute, nil,
			time.Date(2025, 3, 11, 14, 59, 0, 0, time.UTC), time.Date(2025, 3, 11, 15, 0, 0, 0, time.UTC)},
		{"hour on a half-hour offset", time.Date(2025, 3, 11, 10, 15, 0, 0, kolkata), time.Hour, kolkata,
			time.Date(2025, 3, 11, 10, 0, 0, 0, kolkata), time.Date(2025, 3, 11, 11, 0, 0, 0, kolkata)},
		{"day in New York", time.Date(2025, 1, 15, 3, 0, 0, 0, time.UTC), 24 * time.Hour, ny,
			time.Date(2025, 1, 14, 0, 0, 0, 0, ny), time.Date(2025, 1, 15, 0, 0, 0, 0, ny)},
		{"23-hour day (DST starts)", time.Date(2025, 3, 9, 12, 0, 0, 0, ny), 24 * time.Hour, ny,
			time.Date(2025, 3, 9, 0, 0, 0, 0, ny), time.Date(2025, 3, 10, 0, 0, 0, 0, ny)},
		{"week starts Monday", time.Date(2025, 3, 16, 23, 0, 0, 0, time.UTC), 7 * 24 * time.Hour, nil,
			time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 17, 0, 0, 0, 0, time.UTC)},
		{"7 minutes: last window of the day is cut at midnight", time.Date(2025, 3, 11, 23, 58, 0, 0, time.UTC), 7 * time.Minute, nil,
			time.Date(2025, 3, 11, 23, 55, 0, 0, time.UTC), time.Date(2025, 3, 12, 0, 0, 0, 0, time.UTC)},
		{"36 hours: epoch multiples", time.Unix(36*3600*10+5, 0), 36 * time.Hour, nil,
			time.Unix(36*3600*10, 0), time.Unix(36*3600*11, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start, end := CalendarBounds(tt.now, tt.window, tt.loc)
			if !start.Equal(tt.start) || !end.Equal(tt.end) {
				t.Errorf("CalendarBounds(%v, %v) = [%v, %v), want [%v, %v)", tt.now, tt.window, start, end, tt.start, tt.end)
			}
		})
	}
	// Every hour across a fall-back day keeps start <= now < end.
	for now := time.Date(2025, 11, 2, 0, 0, 0, 0, ny); now.Before(time.Date(2025, 11, 3, 0, 0, 0, 0, ny)); now = now.Add(17 * time.Minute) {
		for _, w := range []time.Duration{time.Hour, 3 * time.Hour, 24 * time.Hour} {
			start, end := CalendarBounds(now, w, ny)
			if start.After(now) || !end.After(now) {
				t.Errorf("CalendarBounds(%v, %v) = [%v, %v) does not contain now", now, w, start, end)
			}
		}
	}
}
