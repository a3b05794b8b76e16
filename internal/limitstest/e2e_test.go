package limitstest

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

const tenAMinute = `version: "1"
tools:
  echo:
    rules:
      - name: ten a minute
        rate_limit: 10/minute
`

// store is a way to run tollgate with counters somewhere.
type store struct {
	name  string
	flags func(t *testing.T) []string
}

// stores are every backend; the Redis one gets a fresh prefix per call.
var stores = []store{
	{"memory", func(t *testing.T) []string { return []string{"--state", "memory"} }},
	{"sqlite", func(t *testing.T) []string { return []string{"--state-dir", t.TempDir()} }},
	{"redis", func(t *testing.T) []string {
		return []string{"--state", mcptest.Redis(t), "--state-prefix", prefix(t)}
	}},
}

// prefix is a Redis key prefix of this test's own, for a shared Redis
// (TOLLGATE_TEST_REDIS_URL).
func prefix(t *testing.T) string {
	r := strings.NewReplacer("/", "-", " ", "-", "{", "", "}", "")
	return "limitstest-" + r.Replace(t.Name())
}

// calls returns n tools/call lines with ids from first.
func calls(first, n int, tool string, args func(i int) string) []string {
	lines := make([]string, n)
	for i := range n {
		lines[i] = callLine(first+i, tool, args(first+i))
	}
	return lines
}

func message(i int) string { return `{"message":"call ` + strconv.Itoa(i) + `"}` }

// TestRateLimitUnderConcurrency writes 200 calls at once against a limit of
// 10 a minute: exactly 10 reach the server, and every other is denied with a
// retry hint for agents and programs.
func TestRateLimitUnderConcurrency(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(t.TempDir(), "calls.log")
			g := startTollgate(t, writePolicy(t, tenAMinute), log, st.flags(t)...)
			g.initialize()
			g.send(calls(1, 200, "echo", message)...)
			answers := g.collect(200)
			if got := tally(t, answers, "ten a minute"); got != 10 {
				t.Errorf("%d calls allowed, want 10", got)
			}
			for id, a := range answers {
				if a.allowed() {
					if want := `{"message":"call ` + id + `"}`; a.text() != want {
						t.Errorf("id %s answered %q, want the echo %q", id, a.text(), want)
					}
					continue
				}
				d := a.decision(t)
				if d == nil {
					continue // reported by tally
				}
				// The window is one minute: the wait is never longer, even for
				// a call stamped a moment before the one it waits for (calls
				// are stamped when read, then reserved concurrently).
				if d.RetryAfterMS <= 0 || d.RetryAfterMS > 60_000 {
					t.Errorf("id %s: retry_after_ms = %d, want within the one-minute window", id, d.RetryAfterMS)
				}
				if !strings.Contains(a.text(), "retry") || !strings.HasPrefix(a.text(), "[POLICY DENIED]") {
					t.Errorf("id %s: text %q lacks [POLICY DENIED] or a retry hint", id, a.text())
				}
			}
			g.stop()
			if got := served(t, log)["echo"]; got != 10 {
				t.Errorf("the server executed %d calls, want 10", got)
			}
		})
	}
}

const spendPolicy = `version: "1"
tools:
  pay:
    rules:
      - name: spend cap
        conditions:
          - path: state.pay.spent
            op: lte
            value: 10.00
        state:
          counter: spent
          window: day
          increment_from: args.amount
        on_deny: "Spend cap of 10.00 a day reached"
  pay_strict:
    rules:
      - name: strict cap
        conditions:
          - path: state.pay_strict.spent
            op: lt
            value: 0.90
        state:
          counter: spent
          window: day
          increment_from: args.amount
`

func amount(a string) func(int) string {
	return func(int) string { return `{"amount":` + a + `}` }
}

// TestSpendCap charges exact decimal amounts: 0.50 counts as 0.50, three
// times 0.30 is exactly 0.90, and no fraction slips past a cap.
func TestSpendCap(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(t.TempDir(), "calls.log")
			g := startTollgate(t, writePolicy(t, spendPolicy), log, st.flags(t)...)
			g.initialize()

			g.send(calls(1, 40, "pay", amount("0.50"))...)
			if got := tally(t, g.collect(40), "spend cap"); got != 20 {
				t.Errorf("%d payments of 0.50 admitted under a cap of 10.00, want 20", got)
			}
			// lt 0.90: 0.30 + 0.30 fits, a third 0.30 makes exactly 0.90,
			// which is not below 0.90 (in floating point it would be).
			g.send(calls(101, 5, "pay_strict", amount("0.30"))...)
			if got := tally(t, g.collect(5), "strict cap"); got != 2 {
				t.Errorf("%d payments of 0.30 admitted under lt 0.90, want 2", got)
			}
			g.stop()
			if got := served(t, log); got["pay"] != 20 || got["pay_strict"] != 2 {
				t.Errorf("the server executed %v, want pay:20 pay_strict:2", got)
			}
		})
	}
}

// TestSpendCapRejectsBadAmounts denies amounts that cannot be charged, with
// a reason that says why, before they reach the server.
func TestSpendCapRejectsBadAmounts(t *testing.T) {
	t.Parallel()
	log := filepath.Join(t.TempDir(), "calls.log")
	g := startTollgate(t, writePolicy(t, spendPolicy), log, "--state", "memory")
	g.initialize()
	for i, tc := range []struct{ args, reason string }{
		{`{"amount":-0.50}`, "args.amount is negative"},
		{`{}`, "args.amount is missing"},
		{`{"amount":null}`, "args.amount is not a number"},
		{`{"amount":"0.50"}`, "args.amount is not a number"},
		{`{"amount":true}`, "args.amount is not a number"},
	} {
		a := g.call(i+1, "pay", tc.args)
		d := a.decision(t)
		if d == nil || d.Action != "deny" || !strings.Contains(d.Reason, tc.reason) {
			t.Errorf("pay %s: want a denial saying %q, got %s", tc.args, tc.reason, a.raw)
		}
	}
	if a := g.call(10, "pay", `{"amount":0.25}`); !a.allowed() {
		t.Errorf("a good amount after bad ones: %s", a.raw)
	}
	g.stop()
	if got := served(t, log)["pay"]; got != 1 {
		t.Errorf("the server executed %d payments, want only the good one", got)
	}
}

const refundPolicy = `version: "1"
tools:
  "*":
    rules:
      - name: three calls
        rate_limit: 3/minute
      - name: budget
        conditions:
          - path: state._global.spent
            op: lte
            value: 1.00
        state:
          counter: spent
          window: day
          increment_from: args.amount
`

// TestFailedCallRefundsSpendNotRate: a call the server answers with a tool
// error gives its amount back but still counts towards the rate limit.
func TestFailedCallRefundsSpendNotRate(t *testing.T) {
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(t.TempDir(), "calls.log")
			g := startTollgate(t, writePolicy(t, refundPolicy), log, st.flags(t)...)
			g.initialize()
			steps := []struct {
				tool, amount string
				want         string // "ok", "tool error", or the denying rule
			}{
				{"fail", "0.60", "tool error"}, // spent 0.60, refunded; 1 call
				{"echo", "0.60", "ok"},         // spent 0.60; 2 calls
				{"echo", "0.50", "budget"},     // 1.10 > 1.00; nothing charged
				{"echo", "0.40", "ok"},         // spent 1.00; 3 calls
				{"echo", "0", "three calls"},   // a fourth call in the minute
			}
			for i, s := range steps {
				a := g.call(i+1, s.tool, `{"amount":`+s.amount+`}`)
				d := a.decision(t)
				var got string
				switch {
				case d != nil:
					got = d.Rule
				case a.Result != nil && a.Result.IsError:
					got = "tool error"
				case a.allowed():
					got = "ok"
				default:
					got = a.raw
				}
				if got != s.want {
					t.Errorf("step %d (%s %s): got %s, want %s", i+1, s.tool, s.amount, got, s.want)
				}
			}
			g.stop()
			if got := served(t, log); got["fail"] != 1 || got["echo"] != 2 {
				t.Errorf("the server executed %v, want fail:1 echo:2", got)
			}
		})
	}
}

// TestTwoProcessesOneLimit runs two tollgates on one store, each sent 15
// calls at the same moment: together they admit exactly 10.
func TestTwoProcessesOneLimit(t *testing.T) {
	shared := []store{
		{"sqlite", func(t *testing.T) []string {
			return []string{"--state", "sqlite://" + filepath.Join(t.TempDir(), "shared.db")}
		}},
		{"redis", func(t *testing.T) []string {
			return []string{"--state", mcptest.Redis(t), "--state-prefix", prefix(t)}
		}},
	}
	for _, st := range shared {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			log := filepath.Join(t.TempDir(), "calls.log")
			pol := writePolicy(t, tenAMinute)
			flags := st.flags(t)
			a := startTollgate(t, pol, log, flags...)
			b := startTollgate(t, pol, log, flags...)
			a.initialize()
			b.initialize()
			a.send(calls(1, 15, "echo", message)...)
			b.send(calls(1, 15, "echo", message)...)
			got := tally(t, a.collect(15), "ten a minute") + tally(t, b.collect(15), "ten a minute")
			if got != 10 {
				t.Errorf("two processes admitted %d calls together, want 10", got)
			}
			a.stop()
			b.stop()
			if got := served(t, log)["echo"]; got != 10 {
				t.Errorf("the server executed %d calls, want 10", got)
			}
		})
	}
}

// TestLimitSurvivesRestart admits 6 of 10 calls, stops tollgate (closing its
// input, or with SIGKILL), and starts it again on the same default SQLite
// state directory: only 4 more are admitted.
func TestLimitSurvivesRestart(t *testing.T) {
	for _, how := range []string{"graceful", "kill -9"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			log := filepath.Join(t.TempDir(), "calls.log")
			pol := writePolicy(t, tenAMinute)
			a := startTollgate(t, pol, log, "--state-dir", dir)
			a.initialize()
			for i := 1; i <= 6; i++ {
				if r := a.call(i, "echo", message(i)); !r.allowed() {
					t.Fatalf("call %d before the restart: %s", i, r.raw)
				}
			}
			if how == "graceful" {
				a.stop()
			} else {
				a.kill()
			}
			b := startTollgate(t, pol, log, "--state-dir", dir)
			b.initialize()
			b.send(calls(1, 10, "echo", message)...)
			if got := tally(t, b.collect(10), "ten a minute"); got != 4 {
				t.Errorf("after the restart %d calls were admitted, want 4", got)
			}
			b.stop()
			if got := served(t, log)["echo"]; got != 10 {
				t.Errorf("the server executed %d calls, want 10", got)
			}
		})
	}
}

// TestFiftyProcessesStartAtOnce starts fifty tollgates on one fresh state
// directory (none of them finds it) and has each answer initialize and one
// limited call.
func TestFiftyProcessesStartAtOnce(t *testing.T) {
	const n = 50
	dir := filepath.Join(t.TempDir(), "fresh", "state")
	log := filepath.Join(t.TempDir(), "calls.log")
	pol := writePolicy(t, `version: "1"
tools:
  echo:
    rules:
      - name: forty a minute
        rate_limit: 40/minute
`)
	gs := make([]*tollgate, n)
	for i := range gs {
		gs[i] = startTollgate(t, pol, log, "--state-dir", dir)
	}
	for i, g := range gs {
		g.send(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"limitstest","version":"1"}}}`,
			`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			callLine(1, "echo", message(i)))
	}
	allowed := 0
	for i, g := range gs {
		got := g.collect(2)
		if a := got[`"init"`]; a.Result == nil {
			t.Errorf("process %d: initialize answered %s", i, a.raw)
		}
		a := got["1"]
		switch d := a.decision(t); {
		case a.allowed():
			allowed++
		case d != nil && d.Rule == "forty a minute":
		default:
			t.Errorf("process %d: the call was answered %s", i, a.raw)
		}
	}
	if allowed != 40 {
		t.Errorf("%d of %d processes had their call admitted, want 40 (the limit)", allowed, n)
	}
	for _, g := range gs {
		g.stop()
	}
	if got := served(t, log)["echo"]; got != 40 {
		t.Errorf("the server executed %d calls, want 40", got)
	}
}

const perPolicy = `version: "1"
tools:
  g_tool:
    rules:
      - name: global two
        rate_limit: 2/minute
  i_tool:
    rules:
      - name: identity two
        rate_limit: 2/minute
        per: identity
  s_tool:
    rules:
      - name: session two
        rate_limit: 2/minute
        per: session
`

// TestPerSessionAndIdentity: a new session (a new process) starts a fresh
// session counter, but not a fresh global or identity counter; another
// identity has its own identity counter.
func TestPerSessionAndIdentity(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(t.TempDir(), "calls.log")
	pol := writePolicy(t, perPolicy)
	id := 0
	for _, step := range []struct {
		identity         string
		global, ident, s int // calls admitted of three
	}{
		{"alice", 2, 2, 2},
		{"alice", 0, 0, 2}, // a new session of the same identity
		{"bob", 0, 2, 2},
	} {
		g := startTollgate(t, pol, log, "--state-dir", dir, "--identity", step.identity)
		g.initialize()
		for _, tool := range []struct {
			name string
			want int
		}{{"g_tool", step.global}, {"i_tool", step.ident}, {"s_tool", step.s}} {
			admitted := 0
			for range 3 {
				id++
				if g.call(id, tool.name, `{}`).allowed() {
					admitted++
				}
			}
			if admitted != tool.want {
				t.Errorf("%s, %s: %d of 3 calls admitted, want %d", step.identity, tool.name, admitted, tool.want)
			}
		}
		g.stop()
	}
	want := map[string]int{"g_tool": 2, "i_tool": 4, "s_tool": 6}
	if got := served(t, log); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the server executed %v, want %v", got, want)
	}
}

// TestRedisDown: with Redis gone, --state-fail-mode closed denies calls that
// need it, saying the store is unavailable, and open lets them through.
func TestRedisDown(t *testing.T) {
	for _, mode := range []string{"closed", "open"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			url, kill := redisServer(t)
			log := filepath.Join(t.TempDir(), "calls.log")
			g := startTollgate(t, writePolicy(t, tenAMinute), log, "--state", url, "--state-fail-mode", mode)
			g.initialize()
			if a := g.call(1, "echo", message(1)); !a.allowed() {
				t.Fatalf("with Redis up: %s", a.raw)
			}
			kill()
			a := g.call(2, "echo", message(2))
			switch mode {
			case "closed":
				d := a.decision(t)
				if d == nil || d.Action != "deny" || !strings.Contains(d.Reason, "unavailable") ||
					!strings.Contains(a.text(), "[POLICY DENIED]") {
					t.Errorf("with Redis down, fail closed: want a denial saying the store is unavailable, got %s", a.raw)
				}
			case "open":
				if !a.allowed() {
					t.Errorf("with Redis down, fail open: want the call through, got %s", a.raw)
				}
			}
			g.stop()
			want := map[string]int{"closed": 1, "open": 2}[mode]
			if got := served(t, log)["echo"]; got != want {
				t.Errorf("the server executed %d calls, want %d", got, want)
			}
		})
	}
}
