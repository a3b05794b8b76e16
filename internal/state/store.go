// Package state owns the counter store contract behind rate limits and spend
// caps: one atomic reservation for every counter a call touches, then a
// commit or a refund when the call's outcome is known. Backends live beside
// it (memstore, sqlitestore, redisstore) and all pass storetest.Run.
package state

import (
	"context"
	"errors"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
)

// ErrUnavailable wraps every error caused by the store being unreachable or
// failing (as opposed to a limit being reached, which is not an error).
// Callers apply --state-fail-mode to it.
var ErrUnavailable = errors.New("state store unavailable")

// Key names one counter: Scope is a tool name or "_global"; Counter is the
// counter's name (a rule's state.counter, or the name derived for a
// rate_limit); Who is "global", "session:<id>" or "identity:<name>".
// Window and Align are part of the key's identity in the backend, so that
// changing a rule's window starts a fresh counter rather than reinterpreting
// old entries.
type Key struct {
	Scope   string
	Counter string
	Who     string
}

// String renders the key as scope/counter/who, the form used in audit lines
// and error messages.
func (k Key) String() string { return k.Scope + "/" + k.Counter + "/" + k.Who }

// Align selects how a window is measured.
type Align int

const (
	// Sliding counts every admission in (now-Window, now]: a strict sliding
	// window, the default.
	Sliding Align = iota
	// Calendar counts admissions since the start of the current fixed window
	// (minute, hour, day, ... aligned in Location).
	Calendar
)

// Charge asks to add Amount to one counter, admitted only while the counter's
// total in the current window plus Amount stays within Limit (≤ Limit, or
// < Limit when Strict).
type Charge struct {
	Key      Key
	Window   time.Duration
	Align    Align
	Location *time.Location  // Calendar only; nil means UTC
	Amount   decimal.Decimal // > 0
	Limit    decimal.Decimal
	Strict   bool
	// KeepOnRefund leaves this charge counted when its reservation is
	// refunded: a rate limit counts failed calls too, while a spend counter
	// in the same reservation is given back.
	KeepOnRefund bool
}

// Result is the outcome of Reserve.
type Result struct {
	// Admitted is true when every charge fitted and all were recorded.
	Admitted bool
	// Reservation identifies the recorded charges for Commit or Refund; empty
	// when not admitted.
	Reservation string
	// Denied is the index in the charges slice of the first charge that did not
	// fit, when not admitted.
	Denied int
	// RetryAfter is, when not admitted, how long until the denied charge would
	// fit if nothing else were admitted meanwhile (0 if it never will, e.g. an
	// amount larger than the limit).
	RetryAfter time.Duration
	// Totals holds each charge's counter total in the window after the call
	// (when admitted) or as found (when not), in charge order.
	Totals []decimal.Decimal
}

// NonBlocking is implemented by stores whose methods never wait on I/O or
// on another process (the memory store): a caller may run them where
// waiting would hold up other work, such as a session's read loop.
type NonBlocking interface {
	Store
	NonBlocking()
}

// QuickCommit is implemented by stores whose Commit waits on nothing (it
// forgets the reservation in memory; the charges were written by Reserve):
// a caller need not bound it with a deadline, whose timer would cost more
// than the commit.
type QuickCommit interface {
	Store
	QuickCommit()
}

// Wrapper is implemented by a store that passes every call on to another
// (a view of a shared store): it has the properties of the store it wraps.
type Wrapper interface {
	Store
	Unwrap() Store
}

// IsNonBlocking reports whether s, or the store it wraps, is NonBlocking.
func IsNonBlocking(s Store) bool {
	_, ok := unwrap(s).(NonBlocking)
	return ok
}

// CommitsQuickly reports whether s, or the store it wraps, is NonBlocking
// or QuickCommit.
func CommitsQuickly(s Store) bool {
	switch unwrap(s).(type) {
	case NonBlocking, QuickCommit:
		return true
	}
	return false
}

func unwrap(s Store) Store {
	for {
		w, ok := s.(Wrapper)
		if !ok {
			return s
		}
		s = w.Unwrap()
	}
}

// Store is the counter store contract.
//
// Reserve is atomic across all charges: either every charge is recorded or
// none is, also against concurrent Reserve calls from other goroutines and
// other processes sharing the backend. A reservation counts towards limits
// from the moment Reserve returns until it is refunded.
//
// Commit makes a reservation final; Refund removes its charges (except those
// marked KeepOnRefund) as if they had never been made. Both are idempotent and ignore unknown reservations; a
// reservation neither committed nor refunded counts as committed.
//
// Peek returns a counter's current total in the window without changing it.
//
// All methods are safe for concurrent use. Errors caused by the backend wrap
// ErrUnavailable. Close releases resources and may be called more than once.
type Store interface {
	Reserve(ctx context.Context, now time.Time, charges []Charge) (Result, error)
	Commit(ctx context.Context, reservation string) error
	Refund(ctx context.Context, reservation string) error
	Peek(ctx context.Context, now time.Time, key Key, window time.Duration, align Align, loc *time.Location) (decimal.Decimal, error)
	Close() error
}
