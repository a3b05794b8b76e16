package gate

import (
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
)

// outstanding is one approval request this gate made for a caller, until a
// call consumes it, a denial answers a call, or it expires.
type outstanding struct {
	id, fp  string
	expires time.Time
}

// holdsKey names the caller whose outstanding requests approvals.max_pending
// counts: the session, else the identity (a session-less 2026-07-28 call),
// else every anonymous caller together.
func holdsKey(h *hold) string {
	if h.ev.Session != "" {
		return "s:" + h.ev.Session
	}
	return "i:" + h.ev.Identity
}

// outstandingFor reports how many requests key has outstanding at now, and
// whether one of them is for the call fingerprinted fp. It forgets expired
// requests (every caller's, once in a while).
func (a *Approvals) outstandingFor(key, fp string, now time.Time) (n int, known bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	live := a.holds[key][:0]
	for _, o := range a.holds[key] {
		if now.Before(o.expires) {
			live = append(live, o)
			known = known || o.fp == fp
		}
	}
	if len(live) == 0 {
		delete(a.holds, key)
	} else {
		a.holds[key] = live
	}
	return len(live), known
}

// track notes a request r made for key.
func (a *Approvals) track(key string, r approval.Record, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.holds == nil {
		a.holds = map[string][]outstanding{}
	}
	if a.tracked++; a.tracked%256 == 0 {
		for k, os := range a.holds {
			live := os[:0]
			for _, o := range os {
				if now.Before(o.expires) {
					live = append(live, o)
				}
			}
			if len(live) == 0 {
				delete(a.holds, k)
			} else {
				a.holds[k] = live
			}
		}
	}
	a.holds[key] = append(a.holds[key], outstanding{id: r.ID, fp: r.Fingerprint, expires: r.ExpiresAt})
}

// settle forgets request id of key: a call consumed it, or its denial
// answered a call.
func (a *Approvals) settle(key, id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	os := a.holds[key]
	for i, o := range os {
		if o.id == id {
			a.holds[key] = append(os[:i], os[i+1:]...)
			break
		}
	}
	if len(a.holds[key]) == 0 {
		delete(a.holds, key)
	}
}
