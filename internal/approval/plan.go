package approval

import (
	"slices"
	"time"
)

var timeZero time.Time

// Plan is Begin's decision, for backends that can read every record of a
// fingerprint and write back inside one transaction (memstore, sqlitestore).
// recs are the stored records with req.New.Fingerprint, in any order. It
// returns the result and the records to write (updated or new), all with
// millisecond times.
func Plan(recs []Record, req BeginRequest) (BeginResult, []Record) {
	var res BeginResult
	var writes []Record
	now := req.Now
	var approved, denied, pending *Record
	slices.SortStableFunc(recs, func(a, b Record) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for i := range recs {
		r := &recs[i]
		if (r.Status == Pending || r.Status == Approved) && !now.Before(r.ExpiresAt) {
			r.Status = Expired
			writes = append(writes, *r)
			res.Expired = append(res.Expired, *r)
			continue
		}
		if !r.Live(now) {
			continue
		}
		switch r.Status {
		case Approved:
			if approved != nil {
				continue
			}
			if req.Verify != nil {
				if err := req.Verify(*r); err != nil {
					res.Unverified = append(res.Unverified, Rejected{Record: *r, Err: err})
					continue
				}
			}
			approved = r
		case Denied:
			if denied == nil || r.DecidedAt.After(denied.DecidedAt) {
				denied = r
			}
		case Pending:
			if req.Dedupe > 0 && now.Sub(r.CreatedAt) < req.Dedupe && (pending == nil || r.CreatedAt.After(pending.CreatedAt)) {
				pending = r
			}
		}
	}
	switch {
	case approved != nil:
		approved.Status = Consumed
		approved.ConsumedAt = Millis(now)
		writes = append(writes, *approved)
		res.Outcome, res.Record = ConsumedNow, *approved
	case denied != nil:
		res.Outcome, res.Record = Refused, *denied
	case pending != nil:
		res.Outcome, res.Record = Reused, *pending
	default:
		n := req.New
		n.Status = Pending
		n.CreatedAt, n.ExpiresAt = Millis(n.CreatedAt), Millis(n.ExpiresAt)
		n.DecidedAt, n.ConsumedAt, n.Approver, n.Note, n.Signature = timeZero, timeZero, "", "", ""
		writes = append(writes, n)
		res.Outcome, res.Record = Requested, n
	}
	return res, writes
}

// ApplyDecision checks and applies d to r in place (for backends that read
// and write inside one transaction). It returns ErrExpired after marking r
// Expired, or ErrNotPending.
func ApplyDecision(r *Record, d Decision) error {
	if r.Status == Pending && !d.Now.Before(r.ExpiresAt) {
		r.Status = Expired
		return ErrExpired
	}
	if r.Status != Pending {
		return ErrNotPending
	}
	r.Status = Denied
	if d.Approve {
		r.Status = Approved
	}
	r.DecidedAt, r.Approver, r.Note, r.Signature = Millis(d.Now), d.Approver, d.Note, ""
	if d.Approve {
		r.Signature = d.Signature
	}
	return nil
}

// ApplyConsume checks and applies a consumption of r at now in place.
func ApplyConsume(r *Record, now time.Time) error {
	if r.Status == Approved && !now.Before(r.ExpiresAt) {
		r.Status = Expired
		return ErrExpired
	}
	if r.Status != Approved {
		return ErrNotApproved
	}
	r.Status, r.ConsumedAt = Consumed, Millis(now)
	return nil
}

// ApplyRestore undoes a consumption of r in place and reports whether r
// changed.
func ApplyRestore(r *Record) bool {
	if r.Status != Consumed {
		return false
	}
	r.Status, r.ConsumedAt = Approved, timeZero
	return true
}
