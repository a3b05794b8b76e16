package gate

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/canonjson"
	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
)

// Multi round-trip requests (2026-07-28, basic/patterns/mrtr): a server
// answers a tools/call with an input_required result, and the client
// retries the same call with inputResponses and the result's
// requestState. The rounds are one call: the first round was judged,
// charged and approved, and a retry bound to it is forwarded without
// being charged or approved again. A retry is bound to the round before
// it by everything the agent could change: the session and identity, the
// tool, the arguments (as JSON values) and the exact requestState the
// server issued. A "retry" that differs in any of them is judged as the
// new call it is; each interim result can be retried once (a second
// round's interim result arms the next retry).
//
// The open rounds are kept in Gate.Calls when it is set, under a hash of
// everything that binds the retry, so that a retry sent to another
// instance on the same state backend finds its round (and takes it: one
// retry in all); otherwise in this process. A round that cannot be noted
// or checked makes the retry a new call: judged and charged again, never
// let through unjudged.

// DefaultRoundTTL bounds how long a retry may follow the interim result
// it answers when Gate.RoundTTL is zero.
const DefaultRoundTTL = 10 * time.Minute

// maxRounds bounds the interim results waiting for a retry; past it the
// oldest are forgotten (their retries are judged as new calls).
const maxRounds = 1 << 16

// rounds holds the interim results that wait for their retry.
type rounds struct {
	mu sync.Mutex
	m  map[roundKey]time.Time // → expiry
}

// roundKey binds a retry to its round.
type roundKey struct {
	session, identity, tool, state string
	args                           [sha256.Size]byte
}

// Kinds of round in Gate.Calls: a server's interim result, and Tollgate's
// own inline approval question.
const (
	serverRound = "round"
	inlineRound = "inline"
)

// storeTimeout bounds an operation on Gate.Calls made outside a call's
// context (when a call ends, when the pump asks about a task).
const storeTimeout = 5 * time.Second

// storeKey is k's key in Gate.Calls: kind and a hash of every field, each
// length-prefixed so that no two keys share an encoding.
func (k *roundKey) storeKey(kind string) string {
	h := sha256.New()
	var n [8]byte
	for _, f := range [...]string{k.session, k.identity, k.tool, k.state} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	h.Write(k.args[:])
	return kind + ":" + hex.EncodeToString(h.Sum(nil))
}

// armRound notes in r, or in g.Calls when set, that the retry k may
// follow until until. A round that cannot be noted is logged: its retry
// will be judged as a new call.
func (g *Gate) armRound(ctx context.Context, r *rounds, kind string, k roundKey, until, now time.Time) {
	if g.Calls == nil {
		r.arm(k, until, now)
		return
	}
	ttl := until.Sub(now)
	if ttl <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if err := g.Calls.Put(ctx, k.storeKey(kind), nil, ttl, now); err != nil {
		g.log().Warn("call store: a multi round-trip retry could not be noted; it will be judged, and charged, as a new call",
			"tool", k.tool, "session", k.session, "err", err)
	}
}

// takeRound consumes the round k from r, or from g.Calls when set,
// reporting whether it was open. A round that cannot be checked is not
// open.
func (g *Gate) takeRound(ctx context.Context, r *rounds, kind string, k roundKey, now time.Time) bool {
	if g.Calls == nil {
		return r.take(k, now)
	}
	_, ok, err := g.Calls.Take(ctx, k.storeKey(kind), now)
	if err != nil {
		g.log().Warn("call store: cannot check a multi round-trip retry; judged, and charged, as a new call",
			"tool", k.tool, "session", k.session, "err", err)
		return false
	}
	return ok
}

// roundArgs returns the hash that binds a retry's arguments to its
// round's: equal for equal JSON values. ok is false for arguments that
// are not canonical JSON (such a call can be no retry).
func roundArgs(args []byte) (sum [sha256.Size]byte, ok bool) {
	canon, err := canonjson.Canonical(args)
	if err != nil {
		return sum, false
	}
	return sha256.Sum256(canon), true
}

func (g *Gate) roundTTL() time.Duration {
	if g.RoundTTL > 0 {
		return g.RoundTTL
	}
	return DefaultRoundTTL
}

// arm records an interim result: the retry that echoes state may follow.
func (r *rounds) arm(k roundKey, until time.Time, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[roundKey]time.Time)
	}
	if len(r.m) >= maxRounds {
		for key, exp := range r.m {
			if !exp.After(now) {
				delete(r.m, key)
			}
		}
		for key := range r.m {
			if len(r.m) < maxRounds {
				break
			}
			delete(r.m, key) // no order: any one will do, all are bounded
		}
	}
	r.m[k] = until
}

// take consumes the round a retry answers, reporting whether there was
// one still open.
func (r *rounds) take(k roundKey, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp, ok := r.m[k]
	if ok {
		delete(r.m, k)
	}
	return ok && exp.After(now)
}

// retried rules on a call that claims to be a retry: bound to an open
// round, it is forwarded without judging, charging or approval (the tool
// must still be visible); otherwise ok is false and the call is judged
// as any other.
func (g *Gate) retried(ctx context.Context, c *proxy.Call) (r proxy.Ruling, ok bool) {
	if !c.Retry || c.Session == nil || !mcp.Stateless(c.Session.Version()) {
		return r, false
	}
	sum, ok := roundArgs(c.Args)
	if !ok {
		return r, false
	}
	now := g.now()
	k := roundKey{session: c.Session.ID, identity: c.Session.Identity, tool: c.Tool, state: c.RequestState, args: sum}
	if !g.takeRound(ctx, &g.rounds, serverRound, k, now) {
		return r, false
	}
	p := g.policy.Load()
	if !g.monitoring(p) && (p.Hidden(c.Tool) || g.unseen(p, c.Tool)) {
		// Hidden since its first round: answered as any hidden tool.
		return proxy.Ruling{}, false
	}
	ev := event.Event{Time: now, Session: c.Session.ID, Identity: c.Session.Identity, Tool: c.Tool,
		Args: append([]byte(nil), c.Args...), Decision: "allow", PolicyRev: p.Revision(),
		Reason: "retry of a call its server asked for input (multi round-trip): judged, charged and approved with its first round"}
	t := &ticket{g: g, ev: ev, start: now, round: &k, mayTask: mayCreateTask(c)}
	// The retry's arguments are inspected as its first round's were: what
	// the policy redacts never reaches the server in a later round either.
	if in := p.Inspection(c.Tool); in != nil {
		if in.Arguments != nil {
			got := inspected{policy: in}
			if denied, refused := g.inspectMeta(c, p, &got, now); refused {
				return denied, true
			}
			if out, found, err := inspectArgs(in.Arguments, c.Args); err == nil {
				r.Args, t.ev.Findings = out, append(got.found, found...)
			}
			r.Meta = got.meta
		}
		if in.Results != nil || in.MaxResultBytes > 0 {
			t.results = in
		}
	}
	r.Ticket = t
	return r, true
}

// bindRound keeps, on the ticket of a forwarded call from a stateless
// session, what binds a retry to it should the server ask for input. The
// arguments are kept as sent (not as redacted) and hashed only if the
// server does ask. A ticket's round is set exactly for the calls of
// stateless sessions (here, or by retried): what it notes later goes to
// Gate.Calls when set.
func (g *Gate) bindRound(t *ticket, c *proxy.Call) {
	if t == nil || t.round != nil || c.Session == nil || !mcp.Stateless(c.Session.Version()) {
		return
	}
	t.round = &roundKey{session: c.Session.ID, identity: c.Session.Identity, tool: c.Tool}
	t.roundArgs = append([]byte(nil), c.Args...)
}

// interim notes that the server answered the ticket's call with an
// input_required result: its retry echoing state is the same call.
func (t *ticket) interim(state string) {
	if t.round == nil {
		return
	}
	k := *t.round
	if t.roundArgs != nil {
		sum, ok := roundArgs(t.roundArgs)
		if !ok {
			return
		}
		k.args = sum
	}
	k.state = state
	now := t.g.now()
	t.g.armRound(context.Background(), &t.g.rounds, serverRound, k, now.Add(t.g.roundTTL()), now)
	t.ev.Reason = joinReason(t.ev.Reason, "the server asked for input (input_required); its retry is this call")
}

func joinReason(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
