// Package event holds Tollgate's decision events: what the gate decided
// about one call (or one step in an approval's life), and the Recorder
// interfaces through which the audit trail and the metrics receive them.
// It is a leaf: the gate produces events, audit and metrics consume them,
// and none of them needs to import the others.
package event

import "time"

// Decision is what an event records.
type Decision string

// Decisions about a call.
const (
	Allow            Decision = "allow"
	Deny             Decision = "deny"
	ApprovalRequired Decision = "approval_required"
	// Hidden: the call was answered as the server answers an unknown tool
	// (the tool is hidden, or default: deny leaves it unlisted).
	Hidden Decision = "hidden"
	// Invalid: a message refused as malformed or ambiguous, or a governed
	// request sent without an id and dropped.
	Invalid Decision = "invalid"
)

// Steps in the life of an approval.
const (
	ApprovalRequested Decision = "approval_requested"
	ApprovalReused    Decision = "approval_reused"
	ApprovalApproved  Decision = "approval_approved"
	ApprovalDenied    Decision = "approval_denied"
	ApprovalExpired   Decision = "approval_expired"
	ApprovalConsumed  Decision = "approval_consumed"
	ApprovalRestored  Decision = "approval_restored"
	// ApprovalUnverified: an approved record without a valid signature by
	// an approver the policy lists was refused.
	ApprovalUnverified Decision = "approval_unverified"
)

// Event describes one decision, for the audit trail and metrics.
type Event struct {
	Time     time.Time
	Session  string
	Identity string
	// Server names the server behind `tollgate gateway` the call went to
	// ("" outside a gateway, and for the gateway-wide policy's decisions).
	Server    string
	Tool      string
	Args      []byte // aliasing the request: copy to keep
	Decision  Decision
	Rule      string
	Reason    string
	Monitor   bool // the decision was not enforced
	Counters  []string
	Outcome   string // for completed calls: ok, error, tool_error, no_response, cancelled, not_sent
	Latency   time.Duration
	PolicyRev string
	// StateError is the state store's error when it failed for this call.
	StateError string
	// Findings lists what the policy's inspect found in the call's
	// arguments or answer, and what it did ("redact aws_access_key
	// (secret) at result.content[0].text"); never the matched text.
	Findings []string
	// ApprovalID and Approver name the approval an approval_* event (or a
	// call it let through or refused) is about, and the person who decided.
	ApprovalID string
	Approver   string
}

// Recorder receives one Event per decision. It must not block for long.
type Recorder interface {
	Record(ev Event)
}

// ForwardRecorder is implemented by a Recorder that also wants to know when
// a call is let through, just before it is forwarded (for in-flight gauges
// and decision latency). ev is the call's Event with Decision Allow; the
// same call comes again through Record when it completes. It must not block.
type ForwardRecorder interface {
	Forwarded(ev Event)
}
