package gate

import (
	"strconv"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
)

// outstanding is one approval request this gate made for a caller, until a
// call consumes it, a denial answers a call, or it expires. While the store
// has not answered yet, id is a claim token (claim), not a record id.
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

// live drops key's expired requests and returns the rest; a.mu is held.
func (a *Approvals) live(key string, now time.Time) []outstanding {
	kept := a.holds[key][:0]
	for _, o := range a.holds[key] {
		if now.Before(o.expires) {
			kept = append(kept, o)
		}
	}
	if len(kept) == 0 {
		delete(a.holds, key)
	} else {
		a.holds[key] = kept
	}
	return kept
}

// claim takes a place among key's most outstanding requests for a new
// request for the call fp, expiring at expires, before the store is asked:
// two calls racing for the last place cannot both have it. It returns the
// place's token, or "" when key has most already; then n is how many, and
// known says whether one of them is for fp. The place is kept by fill, or
// given back by settle.
func (a *Approvals) claim(key, fp string, most int, now, expires time.Time) (token string, n int, known bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.holds == nil {
		a.holds = map[string][]outstanding{}
	}
	if a.tracked++; a.tracked%256 == 0 {
		for k := range a.holds {
			a.live(k, now) // sweep every caller's expired requests
		}
	}
	os := a.live(key, now)
	if len(os) >= most {
		for _, o := range os {
			known = known || o.fp == fp
		}
		return "", len(os), known
	}
	token = "claim-" + strconv.Itoa(a.tracked)
	a.holds[key] = append(os, outstanding{id: token, fp: fp, expires: expires})
	return token, 0, false
}

// fill turns key's claim token into the request r the store made, or notes
// r when no place was claimed (an identical call over the bound whose
// request the store did not share).
func (a *Approvals) fill(key, token string, r approval.Record) {
	a.mu.Lock()
	defer a.mu.Unlock()
	o := outstanding{id: r.ID, fp: r.Fingerprint, expires: r.ExpiresAt}
	for i := range a.holds[key] {
		if a.holds[key][i].id == token {
			a.holds[key][i] = o
			return
		}
	}
	if a.holds == nil {
		a.holds = map[string][]outstanding{}
	}
	a.holds[key] = append(a.holds[key], o)
}

// settle forgets key's request (or claim token) id: a call consumed it, its
// denial answered a call, or the store made no new request on the claim.
func (a *Approvals) settle(key, id string) {
	if id == "" {
		return
	}
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
