package policytest

import (
	"context"
	"fmt"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
)

// Decision is what the gate would do with a call.
type Decision struct {
	// Action is allow, deny or approval_required: what the agent gets.
	Action string
	Rule   string
	Reason string
	// Hidden is true when the tool is on the hide list (Action is deny).
	Hidden bool
	// WouldDeny is true when a rule in monitor mode would have denied or
	// asked for approval, but the call is let through (Action is allow).
	WouldDeny bool
}

func (d Decision) String() string {
	s := d.Action
	if d.Hidden {
		s += " (hidden tool)"
	}
	if d.Rule != "" {
		s += fmt.Sprintf(" by rule %q", d.Rule)
	}
	if d.WouldDeny {
		s += " (a monitor-mode rule would not have allowed it)"
	}
	if d.Reason != "" && !d.Hidden {
		s += ": " + d.Reason
	}
	return s
}

// Session is the session id test calls are made in.
const Session = "policytest"

// Judge decides c the way the gate does — policy decision, then an
// all-or-nothing reservation of the call's counters in store — and commits
// the counters of an allowed call, as if the server had answered. The
// tool's schema is unknown (validate: {required_args: true} denies). A
// request (c.Request) is decided by the policy's requests section, and
// allowed when no entry governs it.
func Judge(ctx context.Context, p *policy.Policy, store state.Store, c Call, now time.Time) (Decision, error) {
	args := c.Args
	if args == nil {
		args = []byte("{}")
	}
	pc := &policy.Call{Tool: c.Tool, Args: args, Session: Session, Identity: c.Identity, Now: now}
	var d policy.Decision
	if c.Request != "" {
		pc.Tool = c.Request
		d, _ = p.DecideRequest(pc) // the zero Decision, allow, when no entry governs it
	} else {
		d = p.Decide(pc)
	}
	out := Decision{Action: d.Action.String(), Rule: d.Rule, Reason: d.Reason, Hidden: d.Hidden}
	if d.Hidden {
		return out, nil
	}
	if d.Action != policy.Allow {
		if !d.Monitor {
			return out, nil
		}
		out = Decision{Action: "allow", Rule: d.Rule, Reason: d.Reason, WouldDeny: true}
	}
	if len(d.Charges) == 0 {
		if !out.WouldDeny {
			out.Rule, out.Reason = "", ""
		}
		return out, nil
	}
	res, err := policy.Reserve(ctx, store, now, d.Charges)
	if err != nil {
		return Decision{}, fmt.Errorf("judge %s: %w", c.Tool+c.Request, err)
	}
	if !res.Admitted {
		ch := res.Denied
		if ch.Monitor {
			return Decision{Action: "allow", Rule: ch.Rule, Reason: ch.Reason, WouldDeny: true}, nil
		}
		return Decision{Action: "deny", Rule: ch.Rule, Reason: ch.Reason}, nil
	}
	if err := store.Commit(ctx, res.ID); err != nil {
		return Decision{}, fmt.Errorf("judge %s: %w", c.Tool+c.Request, err)
	}
	if !out.WouldDeny {
		out.Rule, out.Reason = "", ""
	}
	return out, nil
}

// Result is the outcome of one test.
type Result struct {
	Test   *Test
	Passed bool
	Got    Decision
	// Msg explains a failure.
	Msg string
}

// Run loads the suite's policy and runs every test, each with a fresh
// memory store: the before calls are judged and charged in order, then the
// test call is judged and compared with the expectation. All calls of a
// test happen at the same instant. The error is for a policy that does not
// load (a *policy.LoadError) or a store failure.
func (s *Suite) Run(ctx context.Context) ([]Result, error) {
	p, err := policy.LoadFile(s.Policy)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	var out []Result
	for i := range s.Tests {
		t := &s.Tests[i]
		r, err := runTest(ctx, p, t, now)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

func runTest(ctx context.Context, p *policy.Policy, t *Test, now time.Time) (Result, error) {
	store := memstore.New()
	defer store.Close()
	for _, b := range t.Before {
		if _, err := Judge(ctx, p, store, b, now); err != nil {
			return Result{}, err
		}
	}
	got, err := Judge(ctx, p, store, t.Call, now)
	if err != nil {
		return Result{}, err
	}
	r := Result{Test: t, Got: got, Passed: true}
	switch {
	case got.Action != t.Expect:
		r.Passed = false
		r.Msg = fmt.Sprintf("expected %s, got %s", t.Expect, got)
	case t.HasRule && got.Rule != t.Rule:
		r.Passed = false
		r.Msg = fmt.Sprintf("expected %s by rule %q, got %s", t.Expect, t.Rule, got)
	}
	return r, nil
}
