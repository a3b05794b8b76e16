package bench

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Goal is a target a row is read against. It is reported, never asserted:
// timing belongs in benchmarks, not tests. Most goals are relative to what
// the bare relay measured in the same run (a row's Floor), so that they
// hold on any machine.
type Goal struct {
	Text string
	// met reports what the row got and whether that meets the goal; rows
	// are the run's other rows, for goals relative to one of them.
	met func(r *Row, rows []*Row) (got string, ok bool)
}

func goalAdded(max time.Duration) *Goal {
	return &Goal{Text: "added p50 ≤ " + us(max) + " µs", met: func(r *Row, _ []*Row) (string, bool) {
		got := signed(r.AddedP50) + " µs"
		if r.Floor != nil { // shown beside, not part of the goal
			got += " (bare relay " + signed(r.Floor.AddedP50) + " µs)"
		}
		return got, r.AddedP50 <= max
	}}
}

func goalLatencyRatio(max float64) *Goal {
	return &Goal{Text: fmt.Sprintf("p50 ≤ %.1f× direct", max), met: func(r *Row, _ []*Row) (string, bool) {
		return fmt.Sprintf("%.2f×", r.P50Ratio), r.P50Ratio <= max
	}}
}

// goalAddedTimesFloor: the added p50 is at most factor × the relay's.
func goalAddedTimesFloor(factor float64) *Goal {
	return &Goal{Text: fmt.Sprintf("added p50 ≤ %.2f× the relay's", factor), met: func(r *Row, _ []*Row) (string, bool) {
		if r.Floor == nil {
			return signed(r.AddedP50) + " µs (no relay figure)", false
		}
		limit := time.Duration(factor * float64(r.Floor.AddedP50))
		return fmt.Sprintf("%s µs against %s µs", signed(r.AddedP50), signed(limit)), r.AddedP50 <= limit
	}}
}

// goalAddedPlusFloor: the added p50 is at most the relay's plus extra (the
// relay's includes a bare Redis round trip in Redis rows).
func goalAddedPlusFloor(extra time.Duration) *Goal {
	return &Goal{Text: "added p50 ≤ the relay's + " + us(extra) + " µs", met: func(r *Row, _ []*Row) (string, bool) {
		if r.Floor == nil {
			return signed(r.AddedP50) + " µs (no relay figure)", false
		}
		limit := r.Floor.AddedP50 + extra
		return fmt.Sprintf("%s µs against %s µs", signed(r.AddedP50), signed(limit)), r.AddedP50 <= limit
	}}
}

// goalRatioOfFloor: the calls/s ratio to direct is at least factor × the
// relay's.
func goalRatioOfFloor(factor float64) *Goal {
	return &Goal{Text: fmt.Sprintf("ratio ≥ %.2f× the relay's", factor), met: func(r *Row, _ []*Row) (string, bool) {
		if r.Floor == nil {
			return fmt.Sprintf("%.2f× (no relay figure)", r.Ratio), false
		}
		limit := factor * r.Floor.Ratio
		return fmt.Sprintf("%.2f× against %.2f×", r.Ratio, limit), r.Ratio >= limit
	}}
}

// goalNearRun: the row's p50 is at most factor × that of tollgate run with
// the empty policy, measured beside it in each round (a paired row): the
// median of each round's ratio. The ratio to the p50 of the row "stdio,
// empty policy", measured earlier in the round, is shown beside it.
func goalNearRun(factor float64) *Goal {
	return &Goal{Text: fmt.Sprintf("p50 ≤ %.2f× tollgate run's with the empty policy, run beside it", factor), met: func(r *Row, rows []*Row) (string, bool) {
		if r.Beside == nil {
			return "no figure for tollgate run", false
		}
		got := fmt.Sprintf("%.2f× (p50 %s against %s µs, CPU a call %s against %s µs", r.Beside.P50Ratio,
			us(r.Proxied[0]), us(r.Beside.P50), us(r.CPU), us(r.Beside.CPU))
		for _, b := range rows {
			if b.Scenario == "stdio, empty policy" && b.InFlight == r.InFlight && b.Proxied[0] > 0 {
				got += fmt.Sprintf("; %.2f× the row \"stdio, empty policy\"", float64(r.Proxied[0])/float64(b.Proxied[0]))
			}
		}
		return got + ")", r.Beside.P50Ratio <= factor
	}}
}

// Peak RSS goals of the tollgate process: idle (the start-up rows), under
// load, and under load with the memory store.
const (
	rssIdleGoalKB   = 12 * 1024
	rssLoadGoalKB   = 16 * 1024
	rssMemoryGoalKB = 20 * 1024
)

// Row is one scenario's medians over the rounds.
type Row struct {
	Scenario   string
	InFlight   int              // 0 for start-up rows
	Direct     [2]time.Duration // p50, p99
	Proxied    [2]time.Duration
	DirectRate float64 // calls/s; 0 for start-up rows
	ProxyRate  float64
	Ratio      float64 // median of each round's Tollgate/direct calls/s
	RatioMin   float64
	RatioMax   float64
	P50Ratio   float64       // median of each round's Tollgate/direct p50
	AddedP50   time.Duration // median of each round's Tollgate − direct p50
	PeakKB     int64         // largest VmHWM of tollgate over the rounds
	CPU        time.Duration // median CPU per call of tollgate
	// Floor: the same medians for the bare relay (internal/bench/relaycmd), from
	// this scenario's relay runs or those of a scenario of the same shape;
	// nil when there were none.
	Floor *Floor
	// Beside: tollgate run's figures beside the row's own, in a paired row
	// (the gateway's); nil otherwise.
	Beside  *Beside
	Goal    *Goal
	Skipped string
	Err     error
}

// Floor is what a relay that only copies messages cost against direct.
type Floor struct {
	Ratio    float64       // median of each round's relay/direct calls/s
	P50Ratio float64       // median of each round's relay/direct p50
	AddedP50 time.Duration // median of each round's relay − direct p50
	PeakKB   int64         // largest VmHWM of the relay over the rounds
	CPU      time.Duration // median CPU per call of the relay process
	From     string        // the scenario whose relay runs these are
	// Redis is the p50 of a bare round trip to the Redis server, measured
	// beside a Redis row's runs and included in its AddedP50.
	Redis time.Duration
}

// Beside is what tollgate run measured beside a paired row.
type Beside struct {
	P50      time.Duration // median p50
	P50Ratio float64       // median of each round's row/run p50
	CPU      time.Duration // median CPU per call
}

// besideOf returns the medians of o's tollgate run runs against its own
// Tollgate runs, nil when it has none.
func besideOf(o *outcome) *Beside {
	n := min(len(o.proxied), len(o.run))
	if n == 0 {
		return nil
	}
	var p50, cpu []time.Duration
	var ratio []float64
	for i := range n {
		p50, cpu = append(p50, o.run[i].p50), append(cpu, o.run[i].cpu)
		if o.run[i].p50 > 0 {
			ratio = append(ratio, float64(o.proxied[i].p50)/float64(o.run[i].p50))
		}
	}
	return &Beside{P50: median(p50), P50Ratio: median(ratio), CPU: median(cpu)}
}

// shape is what makes the bare relay's figures comparable between rows.
type shape struct {
	front, upstream transport
	inFlight        int
	work            work
}

// Report is a finished benchmark run.
type Report struct {
	Rows    []*Row
	Machine string
	Mode    string
	Load    string // load averages, for judging the noise
	Took    time.Duration
}

// loadAverage returns the 1-, 5- and 15-minute load averages.
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func newReport(cfg Config, outs []*outcome, took time.Duration) *Report {
	r := &Report{Machine: machine(), Took: took, Load: cfg.loadAtStart + " at the start, " + loadAverage() + " at the end"}
	if cfg.Smoke {
		r.Mode = fmt.Sprintf("smoke: %d round, %v per run after %v warm-up, %d start-ups", cfg.Rounds, cfg.Duration, cfg.Warmup, cfg.Starts)
	} else {
		r.Mode = fmt.Sprintf("%d rounds, interleaved (direct, Tollgate and, in floor rows, the bare relay, in paired rows tollgate run with the empty policy, in an order reversed every other round), %v measured per run after %v warm-up, %d start-ups of each per round, one of each in turn", cfg.Rounds, cfg.Duration, cfg.Warmup, cfg.Starts)
	}
	if cfg.Profile != "" {
		r.Mode += "; PROFILING: the stdio rows ran the in-process proxy (benchcmd proxy) with a CPU profile, not the tollgate binary"
	}
	floors := map[shape]*Floor{}
	for _, o := range outs {
		if f := floorOf(o); f != nil {
			floors[shape{o.sc.front, o.sc.upstream, o.sc.InFlight, o.sc.work}] = f
		}
	}
	for _, o := range outs {
		row := &Row{Scenario: o.sc.Name, InFlight: o.sc.InFlight, Goal: o.sc.goal, Skipped: o.skipped, Err: o.err}
		if o.sc.kind == kindStartup {
			row.InFlight = 0
		}
		r.Rows = append(r.Rows, row)
		n := min(len(o.direct), len(o.proxied))
		if o.err != nil || n == 0 {
			continue
		}
		var dp50, dp99, pp50, pp99, added, cpu []time.Duration
		var drate, prate, ratio, p50r []float64
		for i := range n {
			d, p := o.direct[i], o.proxied[i]
			dp50, dp99 = append(dp50, d.p50), append(dp99, d.p99)
			pp50, pp99 = append(pp50, p.p50), append(pp99, p.p99)
			added = append(added, p.p50-d.p50)
			cpu = append(cpu, p.cpu)
			drate, prate = append(drate, d.perSec), append(prate, p.perSec)
			if d.perSec > 0 {
				ratio = append(ratio, p.perSec/d.perSec)
			}
			if d.p50 > 0 {
				p50r = append(p50r, float64(p.p50)/float64(d.p50))
			}
			row.PeakKB = max(row.PeakKB, p.peakKB)
		}
		row.Direct = [2]time.Duration{median(dp50), median(dp99)}
		row.Proxied = [2]time.Duration{median(pp50), median(pp99)}
		row.AddedP50, row.CPU = median(added), median(cpu)
		row.DirectRate, row.ProxyRate = median(drate), median(prate)
		if len(ratio) > 0 {
			row.Ratio, row.RatioMin, row.RatioMax = median(ratio), slices.Min(ratio), slices.Max(ratio)
		}
		row.P50Ratio = median(p50r)
		row.Beside = besideOf(o)
		row.Floor = floors[shape{o.sc.front, o.sc.upstream, o.sc.InFlight, o.sc.work}]
		if row.Floor != nil && len(o.rtt) > 0 {
			// A call on the Redis store cannot avoid one round trip to it.
			f := *row.Floor
			rtt := median(o.rtt)
			f.AddedP50 += rtt
			f.Redis = rtt
			row.Floor = &f
		}
	}
	return r
}

// floorOf returns the medians of o's relay runs against its direct runs,
// nil when it has none.
func floorOf(o *outcome) *Floor {
	n := min(len(o.direct), len(o.relay))
	if o.err != nil || n == 0 {
		return nil
	}
	var ratio, p50r []float64
	var added, cpu []time.Duration
	var peak int64
	for i := range n {
		d, f := o.direct[i], o.relay[i]
		added, cpu = append(added, f.p50-d.p50), append(cpu, f.cpu)
		peak = max(peak, f.peakKB)
		if d.perSec > 0 {
			ratio = append(ratio, f.perSec/d.perSec)
		}
		if d.p50 > 0 {
			p50r = append(p50r, float64(f.p50)/float64(d.p50))
		}
	}
	return &Floor{Ratio: median(ratio), P50Ratio: median(p50r), AddedP50: median(added), PeakKB: peak, CPU: median(cpu), From: o.sc.label()}
}

func median[T int64 | float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// machine describes where the run happened.
func machine() string {
	model := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	goVersion := runtime.Version()
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		goVersion = strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s, nproc %d, %s %s/%s, %s", model, runtime.NumCPU(), goVersion, runtime.GOOS, runtime.GOARCH,
		time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

// us formats a duration in microseconds: one decimal below 100 µs.
func us(d time.Duration) string {
	v := float64(d) / float64(time.Microsecond)
	if v < 100 && v > -100 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func signed(d time.Duration) string {
	if d >= 0 {
		return "+" + us(d)
	}
	return us(d)
}

func rate(v float64) string {
	if v == 0 {
		return "—"
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s.  \nRun: %s; took %v; load average %s.\n\n", r.Machine, r.Mode, r.Took.Round(time.Second), r.Load)
	b.WriteString("| scenario | in flight | direct p50 / p99 µs | Tollgate p50 / p99 µs | direct calls/s | Tollgate calls/s | ratio (min–max) | added p50 µs | bare relay: ratio, added p50 µs, CPU/call µs | Tollgate peak RSS | Tollgate CPU/call µs | goal (bare relay's figure) |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	var notes []string
	for _, row := range r.Rows {
		inflight := strconv.Itoa(row.InFlight)
		if row.InFlight == 0 {
			inflight = "—"
		}
		goal := ""
		if row.Goal != nil {
			goal = row.Goal.Text
		}
		switch {
		case row.Skipped != "":
			fmt.Fprintf(&b, "| %s | %s | skipped: %s | | | | | | | | | %s |\n", row.Scenario, inflight, row.Skipped, goal)
			continue
		case row.Err != nil:
			fmt.Fprintf(&b, "| %s | %s | **failed** (see below) | | | | | | | | | %s |\n", row.Scenario, inflight, goal)
			notes = append(notes, fmt.Sprintf("- %s: %v", row.Scenario, firstLine(row.Err)))
			continue
		}
		if row.Goal != nil {
			got, ok := row.Goal.met(row, r.Rows)
			mark := "✗ missed"
			if ok {
				mark = "✓"
			}
			goal = fmt.Sprintf("%s: %s %s", row.Goal.Text, got, mark)
		}
		floor := "—"
		if f := row.Floor; f != nil && row.InFlight > 0 {
			floor = fmt.Sprintf("%.2f, %s", f.Ratio, signed(f.AddedP50))
			if f.Redis > 0 {
				floor += fmt.Sprintf(" (with a %s µs Redis round trip)", us(f.Redis))
			}
			if f.CPU > 0 {
				floor += ", " + us(f.CPU)
			}
		}
		ratio, cpu := "—", "—"
		if row.InFlight > 0 {
			ratio = fmt.Sprintf("%.2f (%.2f–%.2f)", row.Ratio, row.RatioMin, row.RatioMax)
			cpu = us(row.CPU)
		}
		fmt.Fprintf(&b, "| %s | %s | %s / %s | %s / %s | %s | %s | %s | %s | %s | %.1f MB | %s | %s |\n",
			row.Scenario, inflight, us(row.Direct[0]), us(row.Direct[1]), us(row.Proxied[0]), us(row.Proxied[1]),
			rate(row.DirectRate), rate(row.ProxyRate), ratio, signed(row.AddedP50), floor, float64(row.PeakKB)/1024, cpu, goal)
	}
	fmt.Fprintf(&b, "\nPeak RSS of the tollgate process: %s.\n", rssLine(r.Rows))
	if len(notes) > 0 {
		b.WriteString("\nFailures:\n\n" + strings.Join(notes, "\n") + "\n")
	}
	return b.String()
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// rssLine reports peak RSS idle, under load and with the memory store,
// each against its goal, with the bare relay's peak of the same kind when
// the run measured one (so that a miss can be told from the machine's
// floor).
func rssLine(rows []*Row) string {
	var idle, load, memory, relayIdle, relayLoad int64
	for _, row := range rows {
		var relay int64
		if row.Floor != nil {
			relay = row.Floor.PeakKB
		}
		switch {
		case row.Err != nil || row.Skipped != "":
		case row.InFlight == 0:
			idle, relayIdle = max(idle, row.PeakKB), max(relayIdle, relay)
		case strings.Contains(row.Scenario, "memory"):
			memory = max(memory, row.PeakKB)
		default:
			load, relayLoad = max(load, row.PeakKB), max(relayLoad, relay)
		}
	}
	part := func(what string, kb, relay, goal int64) string {
		if kb == 0 { // no row of this kind ran (-run chose others)
			return fmt.Sprintf("%s not measured (goal ≤ %d MB)", what, goal/1024)
		}
		mark := "✓"
		if kb > goal {
			mark = "✗ missed"
		}
		floor := ""
		if relay > 0 {
			floor = fmt.Sprintf(", the bare relay %.1f MB", float64(relay)/1024)
		}
		return fmt.Sprintf("%s %.1f MB (goal ≤ %d MB: %s%s)", what, float64(kb)/1024, goal/1024, mark, floor)
	}
	return part("idle", idle, relayIdle, rssIdleGoalKB) + "; under load " + part("", load, relayLoad, rssLoadGoalKB)[1:] + "; with the memory store under load " + part("", memory, 0, rssMemoryGoalKB)[1:]
}
