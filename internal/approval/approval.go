// Package approval owns human approval of held tool calls: the approval
// record, the fingerprint that binds an approval to one exact call, expiry,
// one-time consumption, and the Store contract its backends implement
// (memstore, sqlitestore, redisstore; all pass storetest.Run). It also sends
// signed webhook notices (webhook.go). It knows nothing of transports or the
// policy language: the gate decides when a call needs approval and asks the
// Store what to do with it.
package approval

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"time"
)

// Status is where a record is in its life.
type Status string

// The statuses. A record starts Pending; a person makes it Approved or
// Denied; an approved record becomes Consumed when the call it approves is
// forwarded (and Approved again if that call fails); a pending or approved
// record whose expiry has passed becomes Expired.
const (
	Pending  Status = "pending"
	Approved Status = "approved"
	Denied   Status = "denied"
	Consumed Status = "consumed"
	Expired  Status = "expired"
)

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	switch s {
	case Pending, Approved, Denied, Consumed, Expired:
		return true
	}
	return false
}

// Record is one approval request and its outcome. Times have millisecond
// precision in every backend.
type Record struct {
	ID          string `json:"id"`
	Fingerprint string `json:"fingerprint"`
	Status      Status `json:"status"`
	Tool        string `json:"tool"`
	// Args is the arguments object of the first call that asked, compacted
	// (the fingerprint is over its canonical form).
	Args      string `json:"arguments"`
	ArgsHash  string `json:"args_hash"` // "sha256:<hex>" of the canonical arguments
	Rule      string `json:"rule"`
	Reason    string `json:"reason"`
	PolicyRev string `json:"policy_revision"`
	Session   string `json:"session,omitempty"`
	Identity  string `json:"identity,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`

	// DecidedAt, Approver and Note are set when a person approved or denied.
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Approver  string    `json:"approver,omitempty"`
	Note      string    `json:"note,omitempty"`
	// Signature is the approver's ed25519 signature of the approval
	// ("ed25519:<base64>", see SignDecision); empty for denials and for
	// approvals given inline in the MCP client.
	Signature string `json:"signature,omitempty"`
	// ConsumedAt is set while the record is Consumed.
	ConsumedAt time.Time `json:"consumed_at,omitzero"`
}

// Live reports whether the record can still change the fate of a call at
// now: pending or approved and not yet expired, or denied and not yet
// expired (a denial answers identical calls until the record expires).
func (r *Record) Live(now time.Time) bool {
	switch r.Status {
	case Pending, Approved, Denied:
		return now.Before(r.ExpiresAt)
	}
	return false
}

// Errors returned by stores. Backend failures wrap ErrUnavailable.
var (
	// ErrNotFound: no record has this id (also for ids that are not
	// well-formed: a forged id is indistinguishable from an unknown one).
	ErrNotFound = errors.New("approval not found")
	// ErrNotPending: the record was already decided, consumed or expired.
	ErrNotPending = errors.New("approval is not pending")
	// ErrExpired: the record's expiry has passed (it is now Expired).
	ErrExpired = errors.New("approval has expired")
	// ErrNotApproved: Consume found the record not approved (never, or
	// already consumed by another call).
	ErrNotApproved = errors.New("approval is not approved")
	// ErrUnavailable wraps failures of the backend itself.
	ErrUnavailable = errors.New("approval store unavailable")
)

// Outcome says what Begin did with a call.
type Outcome uint8

const (
	// Requested: no live record matched; the new record was stored, pending.
	Requested Outcome = iota
	// Reused: a pending record with the same fingerprint, created within the
	// dedupe window, is returned instead of a new one.
	Reused
	// ConsumedNow: an approved record with the same fingerprint was consumed
	// by this call, atomically; the call may be forwarded.
	ConsumedNow
	// Refused: a person denied an identical call and the denial has not
	// expired.
	Refused
)

// String names the outcome as the audit events do.
func (o Outcome) String() string {
	switch o {
	case Requested:
		return "approval_requested"
	case Reused:
		return "approval_reused"
	case ConsumedNow:
		return "approval_consumed"
	case Refused:
		return "approval_denied"
	}
	return "unknown"
}

// BeginRequest is what Begin needs for one held call.
type BeginRequest struct {
	// New is the record to store if nothing live matches New.Fingerprint.
	// Its ID, Fingerprint, CreatedAt and ExpiresAt must be set; Status is
	// ignored (stored as Pending).
	New Record
	// Now is the time of the call.
	Now time.Time
	// Dedupe: a pending record created within it is reused; 0 disables.
	Dedupe time.Duration
	// Verify, when set, is asked about each approved record before it is
	// consumed, inside the same atomic step: a record it rejects is neither
	// consumed nor trusted (it is reported in BeginResult.Unverified and
	// otherwise ignored, as if it were not there).
	Verify func(Record) error
}

// Rejected is an approved record Verify refused, and why.
type Rejected struct {
	Record Record
	Err    error
}

// BeginResult is Begin's answer.
type BeginResult struct {
	Outcome Outcome
	// Record is the record the outcome is about: the new one, the reused
	// one, the one consumed (now Consumed), or the denied one.
	Record Record
	// Expired lists records of the same fingerprint that Begin found past
	// their expiry and marked Expired, for the audit trail.
	Expired []Record
	// Unverified lists approved records BeginRequest.Verify refused.
	Unverified []Rejected
}

// Decision is a person's answer to a pending record.
type Decision struct {
	Approve  bool
	Approver string
	Note     string
	// Signature is stored with an approval (Record.Signature); stores do
	// not check it, the gate does when it consumes the approval.
	Signature string
	Now       time.Time
}

// Filter selects records for List.
type Filter struct {
	// Status keeps only records with this status ("" keeps all). Records
	// past their expiry are reported Expired.
	Status Status
	// Limit bounds the number of records (newest first); 0 means 100.
	Limit int
	// Now decides which records have expired; zero means time.Now().
	Now time.Time
}

// Store is the approval store contract.
//
// Begin is atomic against every other operation, in this process and in
// every other process sharing the backend: of two identical calls racing to
// consume one approval, exactly one gets ConsumedNow. It prefers, among
// live records with the fingerprint: an approved one that req.Verify accepts
// (consumed; oldest first), then a
// denied one (Refused), then the newest pending one created within the
// dedupe window (Reused); otherwise it stores New (Requested).
//
// Decide turns a pending record into an approved or denied one; it fails
// with ErrNotFound, ErrNotPending, or ErrExpired (after marking the record
// Expired). Consume turns one approved record into a consumed one (the inline
// path, which knows the id); it fails with ErrNotFound, ErrNotApproved or
// ErrExpired. Restore turns a consumed record back into an approved one (the
// forwarded call failed); it is a no-op for a record in any other state.
// Get returns one record (status Expired when past its expiry); List returns
// records newest first.
//
// All methods are safe for concurrent use; backend failures wrap
// ErrUnavailable. Close releases resources and may be called more than once.
type Store interface {
	Begin(ctx context.Context, req BeginRequest) (BeginResult, error)
	Decide(ctx context.Context, id string, d Decision) (Record, error)
	Consume(ctx context.Context, id string, now time.Time) (Record, error)
	Restore(ctx context.Context, id string) error
	Get(ctx context.Context, id string, now time.Time) (Record, error)
	List(ctx context.Context, f Filter) ([]Record, error)
	Close() error
}

// IDPrefix starts every approval id.
const IDPrefix = "apr_"

// idLen is the length of an id: the prefix and 128 bits in base32 (26
// characters without padding).
const idLen = len(IDPrefix) + 26

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a fresh approval id: "apr_" and 128 random bits in
// lower-case base32.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return IDPrefix + idEncoding.EncodeToString(b[:])
}

// ValidID reports whether id has the form NewID produces. Stores answer
// ErrNotFound for anything else without looking.
func ValidID(id string) bool {
	if len(id) != idLen || !strings.HasPrefix(id, IDPrefix) {
		return false
	}
	_, err := idEncoding.DecodeString(id[len(IDPrefix):])
	return err == nil
}

// Millis truncates t to the millisecond precision stores keep.
func Millis(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

// FromMillis is the inverse of time.UnixMilli for stored times; 0 is the
// zero time.
func FromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// ToMillis is t.UnixMilli with the zero time as 0.
func ToMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// Effective returns r with Status Expired when it is pending or approved and
// its expiry has passed at now (what Get and List report).
func Effective(r Record, now time.Time) Record {
	if (r.Status == Pending || r.Status == Approved) && !now.Before(r.ExpiresAt) {
		r.Status = Expired
	}
	return r
}
