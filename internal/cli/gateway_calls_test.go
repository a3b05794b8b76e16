package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// gatewayGates builds the per-server gates of a gateway of servers a and
// b, each with the policy src and no gateway-wide policy, on the flags
// args.
func gatewayGates(t *testing.T, src string, args ...string) []*gate.Gate {
	t.Helper()
	pol := loadPolicy(t, src)
	_, gates, cleanup, err := buildGatewayGates(context.Background(), gateFlags(t, args...), loadPolicy(t, "version: \"1\"\n"),
		[]string{"a", "b"}, []*policy.Policy{pol, pol}, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return gates
}

// Two gateway processes on one state file share the call records of
// stateless sessions per server: a retry of server a's input_required
// call through the other process is a's same call (not charged again),
// and the same retry sent to server b is b's new call (charged, and over
// b's limit here): one server's rounds are not another's.
func TestGatewaySharesCallRecordsPerServer(t *testing.T) {
	state := "sqlite://" + filepath.Join(t.TempDir(), "state.db")
	one, two := gatewayGates(t, oneAnHour, "--state", state), gatewayGates(t, oneAnHour, "--state", state)
	for i, g := range append(one, two...) {
		if g.Calls == nil {
			t.Fatalf("gate %d has no call store", i)
		}
	}
	ctx := context.Background()
	s := &transport.Session{ID: "stateless:alice", Identity: "alice"}
	s.SetVersion(mcp.Version20260728)
	call := func(g *gate.Gate, id string, retry bool) proxy.Ruling {
		return g.Judge(ctx, &proxy.Call{Session: s, ID: []byte(id), Tool: "pay", Args: []byte(`{"amount":5}`), Retry: retry, RequestState: "st-1"})
	}
	// b's one call of the hour.
	if r := call(one[1], "b1", false); r.Ticket == nil {
		t.Fatalf("b's first call: %s", r.Answer)
	} else {
		r.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"complete","content":[]}`)})
	}
	first := call(one[0], "a1", false)
	if first.Ticket == nil {
		t.Fatalf("a's first round: %s", first.Answer)
	}
	first.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"input_required","inputRequests":{},"requestState":"st-1"}`), InputRequired: true, RequestState: "st-1"})
	if r := call(two[1], "b2", true); r.Answer == nil {
		t.Error("a retry of a's round sent to b was forwarded free: b took a's round")
	}
	retry := call(two[0], "a2", true)
	if retry.Ticket == nil {
		t.Fatalf("a's retry through the other gateway: %s, want forwarded free", retry.Answer)
	}
	retry.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"complete","content":[]}`)})

	// The rule is buildGate's: a server's gate with a counter store (here
	// the default SQLite file, with no --state and no gateway-wide
	// limits) has the call store beside it; one without has none.
	if g := gatewayGates(t, oneAnHour)[0]; g.Calls == nil {
		t.Error("a server's gate with a counter store has no call store")
	}
	if g := gatewayGates(t, "version: \"1\"\n")[0]; g.Calls != nil {
		t.Error("a server's gate without a state store has a call store")
	}
}

// TestGatewayAuditRequired: a server policy with audit.required runs its
// calls in a gateway whose audit trail records (the server's gate is told
// the trail's health; without it every call would be refused), and a
// gateway that keeps no audit trail refuses to start with it.
func TestGatewayAuditRequired(t *testing.T) {
	ctx := context.Background()
	required := []*policy.Policy{loadPolicy(t, "version: \"1\"\naudit:\n  required: true\n")}
	hubPol := loadPolicy(t, "version: \"1\"\n")
	if _, _, _, err := buildGatewayGates(ctx, gateFlags(t), hubPol, []string{"a"}, required, discardLog); err == nil || !strings.Contains(err.Error(), "audit.required") {
		t.Fatalf("a gateway with --audit off started with a server policy requiring the audit trail: %v", err)
	}
	_, gates, cleanup, err := buildGatewayGates(ctx, gateFlags(t, "--audit", t.TempDir()), hubPol, []string{"a"}, required, discardLog)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	r := gates[0].Judge(ctx, &proxy.Call{Session: &transport.Session{ID: "s"}, ID: []byte("1"), Tool: "echo", Args: []byte(`{}`)})
	if r.Answer != nil {
		t.Fatalf("a call under audit.required with a recording trail was refused: %s", r.Answer)
	}
}
