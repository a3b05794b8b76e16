package gate

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
)

// Inline approval under 2026-07-28 (basic/patterns/mrtr). That revision
// has no requests from Tollgate to the client, so Tollgate asks the
// person as a server asks for input: it answers the held call with an
// input_required result carrying the elicitation/create request that
// earlier revisions get as a request, and a requestState of its own. The
// client shows the question, and retries the call with the person's
// answer (inputResponses) and that requestState.
//
// The requestState is the approval id and 256 random bits: unguessable,
// it names the approval but proves nothing by itself. Like a server's
// round (rounds.go) it is bound to everything the agent could change —
// the session and identity, the tool, the arguments as JSON values — and
// it is good for one retry until the approval expires or the inline wait
// ends, whichever is first. A retry that does not bind (a forged,
// replayed or expired state, other arguments, another session's) is
// judged as the new call it is. Either way the requestState is Tollgate's
// and never reaches the server (Ruling.Fresh). With Gate.Calls set the
// question waits there (rounds.go), so the retry may come through another
// instance on the same state backend, which decides the approval in the
// shared approval store.

// inlineStatePrefix starts every requestState Tollgate issues.
const inlineStatePrefix = "tollgate-inline."

// inlineRequestKey names the approval question in inputRequests, and its
// answer in the retry's inputResponses.
const inlineRequestKey = "dev.tollgate/approval"

// isInlineState reports whether a retry's requestState has the form of
// Tollgate's own (whether or not Tollgate issued it).
func isInlineState(state string) bool {
	return strings.HasPrefix(state, inlineStatePrefix)
}

// newInlineState returns a fresh requestState for the question about
// approval id.
func newInlineState(id string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return inlineStatePrefix + id + "." + base64.RawURLEncoding.EncodeToString(b[:])
}

// inlineStateID returns the approval id a requestState of Tollgate's form
// names; ok is false when it names none.
func inlineStateID(state string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(state, inlineStatePrefix)
	if !ok {
		return "", false
	}
	id, _, ok = strings.Cut(rest, ".")
	return id, ok && approval.ValidID(id)
}

// askRound answers a held call of a 2026-07-28 client with an
// input_required result that asks the person about pending approval r,
// and arms the one retry that may answer it.
func (g *Gate) askRound(ctx context.Context, h *hold, r approval.Record) proxy.Ruling {
	now := g.now()
	wait := g.Approvals.InlineWait
	if wait <= 0 {
		wait = DefaultInlineWait
	}
	until := now.Add(wait)
	if r.ExpiresAt.Before(until) {
		until = r.ExpiresAt
	}
	k := *h.round
	k.state = newInlineState(r.ID)
	g.armRound(ctx, &g.Approvals.rounds, inlineRound, k, until, now)
	res := []byte(`{"resultType":"input_required","inputRequests":{`)
	res = jsonrpc.AppendString(res, inlineRequestKey)
	res = append(res, `:{"method":"elicitation/create","params":`...)
	res = append(res, elicitParams(h, r)...)
	res = append(res, `}},"requestState":`...)
	res = jsonrpc.AppendString(res, k.state)
	res = append(res, '}')
	return proxy.Ruling{Answer: jsonrpc.AppendResult(nil, h.id, res)}
}

// inlineRetry rules on a retry that echoes a requestState of Tollgate's
// form. Bound to the question it answers, the person's answer in
// responses decides the approval as an inline answer does; otherwise the
// retry is the new call it is.
func (g *Gate) inlineRetry(ctx context.Context, h *hold, state string, responses []byte) proxy.Ruling {
	a := g.Approvals
	now := g.now()
	id, ok := inlineStateID(state)
	if !ok || h.round == nil {
		return g.held(ctx, h)
	}
	k := *h.round
	k.state = state
	if !g.takeRound(ctx, &a.rounds, inlineRound, k, now) {
		g.log().Info("a retry echoes an inline approval question it does not answer (forged, replayed, expired, or another call's); judged as a new call",
			"tool", h.ev.Tool, "session", h.ev.Session)
		return g.held(ctx, h)
	}
	r, err := a.Store.Get(ctx, id, now)
	if err != nil || r.Status != approval.Pending || r.Fingerprint != h.fp || !now.Before(r.ExpiresAt) {
		// Decided elsewhere meanwhile (or expired, or the policy changed
		// under the call): the store says what the call is now.
		return g.held(ctx, h)
	}
	answer := mcp.ParamsValue(responses, inlineRequestKey)
	if len(answer) == 0 || answer[0] != '{' {
		return proxy.Ruling{Answer: pendingAnswer(h, r)}
	}
	return g.inlineAnswer(ctx, h, r, answer)
}
