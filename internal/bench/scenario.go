package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/bench/echo"
	"github.com/tollgate-mcp/tollgate/internal/bench/load"
)

// transport is how a client reaches a server.
type transport uint8

const (
	stdio transport = iota
	httpT
)

// kind is what a scenario measures.
type kind uint8

const (
	kindCalls   kind = iota // calls kept in flight for a time
	kindStartup             // time from starting the process to the first tools/list answer
)

// work is the request a scenario repeats.
type work uint8

const (
	workEcho       work = iota // tools/call echo with small arguments
	workList                   // tools/list of the 323-tool fixture
	workListHidden             // the same with 300 tools hidden by the policy
	workBig                    // tools/call big: a 1 MiB result
)

// Scenario is one row of the table: the same load, once straight to the
// echo server and once through Tollgate.
type Scenario struct {
	Name     string
	InFlight int
	kind     kind
	work     work
	policy   string // YAML
	store    string // "", "memory", "sqlite", "redis"
	front    transport
	upstream transport
	goal     *Goal
	// floor: also run through the bare relay (internal/bench/relaycmd), whose
	// figures rows of the same shape (transport, in flight, work) share.
	floor bool
	// gateway: Tollgate runs as `tollgate gateway` over the one echo
	// server (its tools named gatewayPrefix__NAME) instead of tollgate run.
	gateway bool
	// paired: each round also runs the same load through tollgate run with
	// the empty policy, beside the row's own runs, for a goal relative to it
	// (goalNearRun): rows measured minutes apart drift more than such a
	// goal's margin.
	paired bool
}

// gatewayPrefix is the echo server's prefix in the gateway scenarios.
const gatewayPrefix = "bench"

// Policies the scenarios run under.
const (
	policyEmpty = "version: \"1\"\n"

	policyConditions = `version: "1"
tools:
  echo:
    rules:
      - name: arguments ok
        conditions:
          - path: args.message
            op: max_len
            value: 200
          - path: args.message
            op: regex
            value: "^[a-z ]+$"
          - path: args.n
            op: lte
            value: 1000000000000
          - path: args.kind
            op: in
            value: [a, b, c]
`

	// policyLimits has a rate limit and a spend cap that the benchmark
	// never reaches.
	policyLimits = `version: "1"
tools:
  echo:
    rules:
      - name: rate
        rate_limit: 1000000000/minute
      - name: spend cap
        conditions:
          - path: state.echo.spent
            op: lte
            value: 1000000000000
        state:
          counter: spent
          window: day
          increment_from: args.amount
`
)

// policyInspect inspects every call's arguments and every result for
// secrets, personal data and injected instructions (and finds none in the
// benchmark's traffic).
const policyInspect = `version: "1"
inspect:
  "*":
    arguments: {secret: redact, pii: deny}
    results: {secret: redact, pii: redact, injection: fence}
`

// hiddenCount is how many of the fixture's tools the hiding policy hides.
const hiddenCount = 300

// scenarios returns the table's rows in order.
func scenarios() []*Scenario {
	var out []*Scenario
	add := func(s *Scenario) { out = append(out, s) }
	for _, n := range []int{1, 16} {
		s := &Scenario{Name: "stdio, empty policy", InFlight: n, policy: policyEmpty, floor: true}
		if n == 1 {
			s.goal = goalAddedTimesFloor(1.15)
		} else {
			s.goal = goalRatioOfFloor(0.9)
		}
		add(s)
	}
	for _, n := range []int{1, 16} {
		add(&Scenario{Name: "stdio, argument conditions", InFlight: n, policy: policyConditions})
	}
	for _, n := range []int{1, 16} {
		add(&Scenario{Name: "stdio, inspect arguments and results", InFlight: n, policy: policyInspect, paired: true, goal: goalNearRun(1.10)})
	}
	for _, st := range []struct {
		store, label string
		g1, g16      *Goal
	}{
		{"memory", "memory", nil, goalRatioOfFloor(0.85)},
		{"sqlite", "SQLite", goalAddedPlusFloor(60 * time.Microsecond), goalRatioOfFloor(0.6)},
		{"redis", "Redis", goalAddedPlusFloor(80 * time.Microsecond), nil},
	} {
		for _, n := range []int{1, 16} {
			g := st.g1
			if n == 16 {
				g = st.g16
			}
			add(&Scenario{Name: "rate limit + spend cap, " + st.label, InFlight: n, policy: policyLimits, store: st.store, goal: g})
		}
	}
	add(&Scenario{Name: "tools/list, 323 tools", InFlight: 1, work: workList, policy: policyEmpty})
	add(&Scenario{Name: "tools/list, 323 tools, 300 hidden", InFlight: 1, work: workListHidden, goal: goalLatencyRatio(1.3)})
	add(&Scenario{Name: "1 MiB result", InFlight: 1, work: workBig, policy: policyEmpty, goal: goalAdded(time.Millisecond)})
	add(&Scenario{Name: "1 MiB result, inspect", InFlight: 1, work: workBig, policy: policyInspect, goal: goalAdded(2 * time.Millisecond)})
	add(&Scenario{Name: "HTTP front → HTTP upstream", InFlight: 16, policy: policyEmpty, front: httpT, upstream: httpT, goal: goalRatioOfFloor(0.85), floor: true})
	add(&Scenario{Name: "stdio → HTTP bridge", InFlight: 16, policy: policyEmpty, upstream: httpT, goal: goalRatioOfFloor(0.95), floor: true})
	add(&Scenario{Name: "gateway, one server, empty policy", InFlight: 16, policy: policyEmpty, gateway: true, paired: true, goal: goalNearRun(1.10)})
	add(&Scenario{Name: "start-up to first tools/list", kind: kindStartup, policy: policyEmpty, goal: goalAdded(5 * time.Millisecond), floor: true})
	add(&Scenario{Name: "start-up, SQLite limits policy", kind: kindStartup, policy: policyLimits, store: "sqlite"})
	return out
}

// hidePolicy hides the first hiddenCount tools of the fixture.
func hidePolicy(tools []string) string {
	var b strings.Builder
	b.WriteString("version: \"1\"\nhide:\n")
	for _, name := range tools[:hiddenCount] {
		fmt.Fprintf(&b, "  - %q\n", name)
	}
	return b.String()
}

// fixtureNames reads the tool names of a tools/list result file.
func fixtureNames(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read fixture: %w", err)
	}
	var list struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("read fixture %s: %w", path, err)
	}
	names := make([]string, len(list.Tools))
	for i, t := range list.Tools {
		names[i] = t.Name
	}
	if len(names) <= hiddenCount {
		return nil, fmt.Errorf("fixture %s has %d tools, want more than %d", path, len(names), hiddenCount)
	}
	return names, nil
}

// echoArgs are the arguments of every echo call: they satisfy
// policyConditions and carry an amount for policyLimits.
func echoArgs(id int64) []byte {
	return fmt.Appendf(nil, `{"message":"hello world","n":%d,"kind":"a","amount":0.5}`, id)
}

// workload returns the requests and checks for w; tools is the number of
// tools a tools/list answer must hold.
func workload(w work, tools int) load.Workload {
	return workloadAs(w, tools, "")
}

// workloadAs is workload with the tools named prefix+NAME (a gateway's
// namespaced names).
func workloadAs(w work, tools int, prefix string) load.Workload {
	switch w {
	case workList, workListHidden:
		var sized sizeCheck
		return load.Workload{
			Request: func(id int64) []byte { return load.Request(id, "tools/list") },
			Check: func(id int64, resp []byte) error {
				return sized.check(id, resp, func(result []byte) error {
					var r struct {
						Tools []json.RawMessage `json:"tools"`
					}
					if err := json.Unmarshal(result, &r); err != nil {
						return fmt.Errorf("tools/list result: %w", err)
					}
					if len(r.Tools) != tools {
						return fmt.Errorf("tools/list answered %d tools, want %d", len(r.Tools), tools)
					}
					return nil
				})
			},
		}
	case workBig:
		var sized sizeCheck
		return load.Workload{
			Request: func(id int64) []byte { return load.Call(id, echo.ToolBig, []byte(`{}`)) },
			Check: func(id int64, resp []byte) error {
				return sized.check(id, resp, func(result []byte) error {
					var r struct {
						Content []struct {
							Text string `json:"text"`
						} `json:"content"`
						IsError bool `json:"isError"`
					}
					if err := json.Unmarshal(result, &r); err != nil {
						return fmt.Errorf("big result: %w", err)
					}
					if r.IsError || len(r.Content) != 1 || len(r.Content[0].Text) != echo.BigSize {
						return fmt.Errorf("big answered a result that is not %d bytes of text", echo.BigSize)
					}
					return nil
				})
			},
		}
	}
	return load.Workload{
		Request: func(id int64) []byte { return load.Call(id, prefix+echo.ToolEcho, echoArgs(id)) },
		Check: func(id int64, resp []byte) error {
			m, err := load.CheckID(id, resp)
			if err != nil {
				return err
			}
			if !bytes.Contains(m.Result, echo.EchoText(echoArgs(id))) || bytes.Contains(m.Result, []byte(`"isError":true`)) {
				return fmt.Errorf("not the echo of the call: %.300s", resp)
			}
			return nil
		},
	}
}

// sizeCheck verifies large answers cheaply: the first is decoded and checked
// in full, later ones must have the same length (less their id), since the
// same request always gets the same answer.
type sizeCheck struct {
	mu   sync.Mutex
	size int
}

func (s *sizeCheck) check(id int64, resp []byte, full func(result []byte) error) error {
	m, err := load.CheckID(id, resp)
	if err != nil {
		return err
	}
	n := len(resp) - len(m.ID)
	s.mu.Lock()
	size := s.size
	s.mu.Unlock()
	if size == n {
		return nil
	}
	if size != 0 {
		return fmt.Errorf("answer of %d bytes, the first was %d", n, size)
	}
	if err := full(m.Result); err != nil {
		return err
	}
	s.mu.Lock()
	s.size = n
	s.mu.Unlock()
	return nil
}
