package cli

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// gateFlags parses the flags of a gate-building command: args besides the
// defaults (no audit, a state directory of the test's).
func gateFlags(t *testing.T, args ...string) *runFlags {
	t.Helper()
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	f.register(fs)
	if err := fs.Parse(append([]string{"--audit", "off", "--state-dir", t.TempDir()}, args...)); err != nil {
		t.Fatal(err)
	}
	return &f
}

func loadPolicy(t *testing.T, src string) *policy.Policy {
	t.Helper()
	pol, err := policy.Load("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

var discardLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// runGate builds the gate `tollgate run` builds with args (besides the
// defaults), and releases it when the test ends.
func runGate(t *testing.T, src string, args ...string) *gate.Gate {
	t.Helper()
	g, cleanup, err := buildGate(context.Background(), gateFlags(t, args...), loadPolicy(t, src), discardLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return g
}

const oneAnHour = "version: \"1\"\ntools:\n  pay:\n    rules:\n      - name: one an hour\n        rate_limit: 1/hour\n"

// TestRunSharesCallRecords: two `tollgate run` gates on one --state file
// share the call records of stateless sessions, as they share counters: a
// retry of an input_required call through the other is not charged again.
// Without a state store there are none to share.
func TestRunSharesCallRecords(t *testing.T) {
	state := "sqlite://" + filepath.Join(t.TempDir(), "state.db")
	a, b := runGate(t, oneAnHour, "--state", state), runGate(t, oneAnHour, "--state", state)
	if a.Calls == nil || b.Calls == nil {
		t.Fatal("a gate with a state backend has no call store")
	}
	ctx := context.Background()
	s := &transport.Session{ID: "stateless:alice", Identity: "alice"}
	s.SetVersion(mcp.Version20260728)
	call := func(g *gate.Gate, id string, retry bool) proxy.Ruling {
		return g.Judge(ctx, &proxy.Call{Session: s, ID: []byte(id), Tool: "pay", Args: []byte(`{"amount":5}`), Retry: retry, RequestState: "st-1"})
	}
	first := call(a, "1", false)
	if first.Ticket == nil {
		t.Fatalf("first round: %s", first.Answer)
	}
	first.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"input_required","inputRequests":{},"requestState":"st-1"}`), InputRequired: true, RequestState: "st-1"})
	retry := call(b, "2", true)
	if retry.Ticket == nil {
		t.Fatalf("retry through the other gate: %s, want forwarded free", retry.Answer)
	}
	retry.Ticket.Done(proxy.End{Result: []byte(`{"resultType":"complete","content":[]}`)})
	if r := call(b, "3", false); r.Answer == nil {
		t.Error("a fresh call was forwarded past the limit of one")
	}

	if g := runGate(t, "version: \"1\"\n"); g.Calls != nil {
		t.Error("a gate without a state store has a call store")
	}
	if g := runGate(t, "version: \"1\"\n", "--state", "memory"); g.Calls == nil {
		t.Error("a gate on --state memory has no call store")
	}
}
