package policy

import (
	"crypto/ed25519"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
)

// Call is what the gate knows about one tools/call when it asks for a
// decision.
type Call struct {
	// Tool is the tool name from params.name.
	Tool string
	// Args is the raw JSON object of params.arguments exactly as received
	// ("{}" or empty when absent). The gate has already checked that it is an
	// object without duplicate keys.
	Args []byte
	// Required lists inputSchema.required of the tool, from tools/list.
	Required []string
	// SchemaKnown is true when the tool's schema was seen in a tools/list
	// result; validate: {required_args: true} denies when it is false.
	SchemaKnown bool
	// Session and Identity select the counter for per: session and
	// per: identity rules. Empty values share one counter per kind.
	Session, Identity string
	// Now is the time of the call.
	Now time.Time
	// Listed says the server listed Tool, exactly, in a tools/list answer:
	// Tool is then a tool of its own even when it reads as another name the
	// policy governs (see Policy.ReadsAs), and gets its own rules.
	Listed bool
	// ArgsClean says the caller has already inspected Args with this
	// policy's Inspection(Tool).Arguments and it found nothing, so Decide
	// does not scan them again.
	ArgsClean bool
}

// Action is the outcome of a decision.
type Action uint8

const (
	// Allow lets the call through (after the gate reserves Charges).
	Allow Action = iota
	// Deny answers the call with a policy denial; it never reaches the server.
	Deny
	// RequireApproval holds the call until a human approves it.
	RequireApproval
)

// String returns "allow", "deny" or "approval_required".
func (a Action) String() string {
	switch a {
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	case RequireApproval:
		return "approval_required"
	}
	return "unknown"
}

// Decision is the policy's verdict on one call. A denial is a value, not an
// error.
type Decision struct {
	Action Action
	// Rule names the deciding rule; "" when the default posture or the hide
	// list decided.
	Rule string
	// Reason is human-readable and goes after "[POLICY DENIED] ". For
	// RequireApproval it explains why approval is needed.
	Reason string
	// Hidden is true when the tool is on the hide list: the gate must answer
	// exactly as the server answers an unknown tool.
	Hidden bool
	// Monitor is true when the deciding rule (or the whole policy) is in
	// monitor mode: the gate records the decision but lets the call through.
	Monitor bool
	// Charges lists, for Allow and RequireApproval (and for a monitored Deny),
	// the counters the gate must reserve atomically before forwarding, in
	// rule order. A failed reservation denies the call with that charge's
	// Reason, unless the charge is in monitor mode.
	Charges []Charge
}

// Charge is one counter reservation requested by a rate_limit or state rule.
type Charge struct {
	state.Charge
	// Name is Key.String(), kept for a global counter from one call to the
	// next (the audit trail names every charge); empty when not built by
	// Decide.
	Name string
	// Rule is the rule that asked for the charge.
	Rule string
	// Reason is the on_deny text to use when the reservation fails.
	Reason string
	// RefundOnFailure asks the gate to refund the charge when the server's
	// answer is an error. Default false for rate_limit and fixed increments,
	// true for increment_from (a failed payment spent nothing).
	RefundOnFailure bool
	// Monitor is true when the rule is in monitor mode: a failed reservation
	// is recorded but does not deny.
	Monitor bool
}

// Mode is a policy's or rule's enforcement mode.
type Mode uint8

const (
	// Enforce applies decisions (the default).
	Enforce Mode = iota
	// Monitor records what would have been decided and lets calls through.
	Monitor
)

// String returns "enforce" or "monitor".
func (m Mode) String() string {
	if m == Monitor {
		return "monitor"
	}
	return "enforce"
}

// ApprovalConfig is the policy's approvals section.
type ApprovalConfig struct {
	// Response is "result" (default: a pending call is answered with a tool
	// result telling the agent approval is pending) or "error".
	Response string
	// Inline asks the gate to hold the call open while waiting.
	Inline bool
	// DedupeWindow: identical pending calls within it share one approval;
	// 0 disables deduplication.
	DedupeWindow time.Duration
	// Timeout is how long an approval stays valid (default 1h; also set by
	// the top-level approval_timeout alias).
	Timeout time.Duration
	// MaxPending bounds the requests one caller (a session, else an
	// identity) has waiting for a person in one proxy: a held call beyond
	// it is denied and makes no request (default DefaultMaxPending; 0: no
	// bound).
	MaxPending int
	// WebhookURL and WebhookSecret configure notify.webhook; empty when unset.
	WebhookURL    string
	WebhookSecret string
	// Approvers maps each approver's name to their ed25519 public key
	// (approvals.approvers). Only an approval signed by one of these keys,
	// under its name, lets a held call through; with none, approvals can be
	// given only inline (elicitation). Read-only: it is shared.
	Approvers map[string]ed25519.PublicKey
}

// AuditConfig is the policy's audit section.
type AuditConfig struct {
	// Arguments is "none", "hash" (default) or "full".
	Arguments string
	// Redact lists argument paths (as written, e.g. "args.card.number") whose
	// values are replaced before arguments are recorded in full.
	Redact []string
	// Required refuses every call while the audit trail cannot record it
	// (a full disk, a failing write, a buffer that overflowed): nothing
	// runs that is not on the record. A process without an audit trail
	// may not run such a policy.
	Required bool
}

// Step records one thing Explain looked at.
type Step struct {
	// Kind is one of "hidden", "name" (the tool's name reads as another
	// the policy governs), "default", "deny", "validate", "condition",
	// "approval", "charge".
	Kind string
	// Rule is the rule considered ("" for hidden/default steps).
	Rule string
	// Path, Op and Expected describe a condition; Value is the resolved
	// argument as JSON text ("" when missing; a JSON array of every element
	// for a wildcard path).
	Path, Op, Expected, Value string
	// Held reports the outcome: for a condition whether it held; for a rule
	// whether it applied (a deny or approval rule matched, a charge was
	// computed).
	Held bool
	// Note adds detail such as a missing argument or a charge's limit.
	Note string
}
