package bench

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// TestReportFloor checks that a row shows the bare relay's figures, its own
// or those of a scenario of the same shape, and that goals are read against
// them (or against another row).
func TestReportFloor(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	empty := &Scenario{Name: "stdio, empty policy", InFlight: 16, goal: goalRatioOfFloor(0.9), floor: true}
	limits := &Scenario{Name: "limits", InFlight: 16, store: "memory", goal: goalRatioOfFloor(0.4)}
	other := &Scenario{Name: "one in flight", InFlight: 1}
	onRedis := &Scenario{Name: "limits on Redis", InFlight: 16, store: "redis", goal: goalAddedPlusFloor(80 * time.Microsecond)}
	paired := &Scenario{Name: "gateway", InFlight: 16, paired: true, goal: goalNearRun(1.10)}
	startup := &Scenario{Name: "start-up", kind: kindStartup, goal: goalAdded(5 * time.Millisecond), floor: true}
	outs := []*outcome{
		{sc: startup,
			direct:  []sample{{p50: ms(20000)}},
			proxied: []sample{{p50: ms(40000), peakKB: 18 * 1024}},
			relay:   []sample{{p50: ms(30000), peakKB: 5632}}},
		{sc: empty,
			direct:  []sample{{p50: ms(100), perSec: 1000}, {p50: ms(100), perSec: 1000}},
			proxied: []sample{{p50: ms(300), perSec: 400, peakKB: 21 * 1024}, {p50: ms(300), perSec: 400}},
			relay:   []sample{{p50: ms(150), perSec: 600, peakKB: 5000, cpu: ms(6)}, {p50: ms(170), perSec: 700, peakKB: 6144, cpu: ms(8)}}},
		{sc: limits,
			direct:  []sample{{p50: ms(100), perSec: 1000}},
			proxied: []sample{{p50: ms(400), perSec: 300}}},
		{sc: onRedis,
			direct:  []sample{{p50: ms(100), perSec: 1000}},
			proxied: []sample{{p50: ms(900), perSec: 100}},
			rtt:     []time.Duration{ms(110), ms(130), ms(120)}},
		{sc: other,
			direct:  []sample{{p50: ms(50), perSec: 1000}},
			proxied: []sample{{p50: ms(60), perSec: 900}}},
		// Each round's ratio to the run beside it: 1.20, 1.05, 1.08.
		{sc: paired,
			direct:  []sample{{p50: ms(100), perSec: 1000}, {p50: ms(100), perSec: 1000}, {p50: ms(100), perSec: 1000}},
			proxied: []sample{{p50: ms(360), perSec: 350, cpu: ms(13)}, {p50: ms(315), perSec: 350, cpu: ms(14)}, {p50: ms(324), perSec: 350, cpu: ms(15)}},
			run:     []sample{{p50: ms(300), perSec: 400, cpu: ms(11)}, {p50: ms(300), perSec: 400, cpu: ms(12)}, {p50: ms(300), perSec: 400, cpu: ms(10)}}},
	}
	r := newReport(Config{}, outs, time.Second)
	f := r.Rows[1].Floor
	if f == nil || math.Abs(f.Ratio-0.65) > 1e-9 || f.AddedP50 != ms(60) || f.CPU != ms(7) {
		t.Fatalf("floor of the relay's own row = %+v, want ratio 0.65, added 60µs, 7µs of CPU a call", f)
	}
	if r.Rows[2].Floor != f {
		t.Errorf("a row of the same shape does not share the floor: %+v", r.Rows[2].Floor)
	}
	if f := r.Rows[3].Floor; f == nil || f.AddedP50 != ms(60+120) || f.Redis != ms(120) {
		t.Errorf("a Redis row's floor = %+v, want the relay's +60µs and the median round trip of 120µs", f)
	}
	if r.Rows[4].Floor != nil {
		t.Errorf("a row of another shape has a floor: %+v", r.Rows[4].Floor)
	}
	md := r.Markdown()
	for _, want := range []string{
		"| 0.65, +60.0, 7.0 |",
		"idle 18.0 MB (goal ≤ 12 MB: ✗ missed, the bare relay 5.5 MB)",
		"under load 21.0 MB (goal ≤ 16 MB: ✗ missed, the bare relay 6.0 MB)",
		"| 0.65, +180 (with a 120 µs Redis round trip), 7.0 |",
		"ratio ≥ 0.90× the relay's: 0.40× against 0.58× ✗ missed |",
		"ratio ≥ 0.40× the relay's: 0.30× against 0.26× ✓ |",
		"added p50 ≤ the relay's + 80.0 µs: +800 µs against +260 µs ✗ missed |",
		"p50 ≤ 1.10× tollgate run's with the empty policy, run beside it: 1.08× (p50 324 against 300 µs, CPU a call 14.0 against 11.0 µs; 1.08× the row \"stdio, empty policy\") ✓ |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}

// TestRunsKeepOutOfTheUserState: every scenario runs tollgate with an audit
// directory and a state directory of the run's own, so that a benchmark
// never writes the trail or the pins tollgate run records into the state
// directory of the user who runs it.
func TestRunsKeepOutOfTheUserState(t *testing.T) {
	work := t.TempDir()
	h := &harness{cfg: Config{Tollgate: "tollgate", Echo: []string{"echo"}, WorkDir: work, Redis: "redis://127.0.0.1:1/0"}}
	for i := range 323 {
		h.toolNames = append(h.toolNames, fmt.Sprintf("tool_%d", i))
	}
	for _, sc := range scenarios() {
		argv, _, err := h.tollgateArgv(sc, "http://127.0.0.1:1/mcp", 0, false)
		if err != nil {
			t.Fatalf("%s: %v", sc.label(), err)
		}
		flags := map[string]string{}
		for i := 0; i+1 < len(argv) && argv[i] != "--"; i++ {
			if strings.HasPrefix(argv[i], "--") {
				flags[argv[i]] = argv[i+1]
			}
		}
		for _, f := range []string{"--audit", "--state-dir"} {
			if dir, ok := flags[f]; !ok || !strings.HasPrefix(dir, work) {
				t.Errorf("%s: %s %q, want a directory under the run's %s (argv %q)", sc.label(), f, dir, work, argv)
			}
		}
	}
}
