// Package bench measures what Tollgate costs: it runs each scenario straight
// against the echo server and through the tollgate binary, interleaved and
// repeated so that noise shows, and reports medians as a Markdown table.
// The echo server (package echo) and the load client (package load) are its
// instruments; cmd benchcmd is its command line, run by scripts/bench.sh.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/bench/load"
)

// Config is one benchmark run.
type Config struct {
	Tollgate string   // the tollgate binary
	Echo     []string // argv running the echo server; its flags are appended
	Fixture  string   // the 323-tool tools/list fixture
	WorkDir  string   // policies and state live here

	Rounds   int
	Warmup   time.Duration
	Duration time.Duration // measured per run
	Starts   int           // start-ups per round
	Smoke    bool          // one short round: proves every scenario works

	Redis      string         // redis://… for the Redis scenarios; "" skips them
	ListenPath string         // path of Tollgate's streamable HTTP endpoint
	Only       *regexp.Regexp // run only scenarios whose name matches; nil: all
	// Profile, when not "", runs the proxied stdio scenarios through
	// `benchcmd proxy` (Tollgate's pump and gate in-process) with a CPU
	// profile per run written into this directory.
	Profile   string
	ProxySelf []string // argv of `benchcmd proxy`, for Profile
	// RelaySelf is the argv of the relay (internal/bench/relaycmd): a relay that only copies
	// messages, run in Tollgate's place in the scenarios marked floor so
	// that the table shows what any relay costs on this machine. nil: no
	// floor runs.
	RelaySelf []string

	Log io.Writer // progress; nil discards

	loadAtStart string
}

// sample is what one run measured.
type sample struct {
	p50, p99 time.Duration
	perSec   float64
	peakKB   int64         // VmHWM of the process in the client's place (Tollgate, or the relay)
	cpu      time.Duration // its CPU per call
}

// via is what stands between the load client and the echo server in a run.
type via uint8

const (
	viaDirect   via = iota // nothing: the client talks to the server
	viaTollgate            // the tollgate binary
	viaRelay               // the bare relay (internal/bench/relaycmd): the floor
	viaRun                 // tollgate run with the empty policy, beside a paired row (Scenario.paired)
)

func (v via) String() string {
	switch v {
	case viaTollgate:
		return "through Tollgate"
	case viaRelay:
		return "through the bare relay"
	case viaRun:
		return "through tollgate run"
	}
	return "direct"
}

// outcome is one scenario's measurements over every round.
type outcome struct {
	sc      *Scenario
	direct  []sample
	proxied []sample
	relay   []sample        // floor runs, when the scenario has them
	run     []sample        // tollgate run's runs, when the scenario is paired
	rtt     []time.Duration // Redis round trips measured beside the runs (Redis rows)
	skipped string
	err     error
}

// harness runs scenarios.
type harness struct {
	cfg       Config
	features  string // tollgate run -help output
	toolNames []string
	seq       int
}

// Run measures every scenario and returns the report. It fails if any
// scenario failed (a call errored or got a wrong answer); timing never
// fails it.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Rounds < 1 {
		cfg.Rounds = 1
	}
	if cfg.ListenPath == "" {
		cfg.ListenPath = "/mcp"
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	cfg.loadAtStart = loadAverage()
	h := &harness{cfg: cfg}
	help, _ := exec.CommandContext(ctx, cfg.Tollgate, "run", "-help").CombinedOutput()
	h.features = string(help)
	names, err := fixtureNames(cfg.Fixture)
	if err != nil {
		return nil, err
	}
	h.toolNames = names

	var outs []*outcome
	for _, sc := range scenarios() {
		if cfg.Only != nil && !cfg.Only.MatchString(sc.Name+" "+strconv.Itoa(sc.InFlight)) {
			continue
		}
		o := &outcome{sc: sc, skipped: h.unsupported(sc)}
		outs = append(outs, o)
	}
	start := time.Now()
	for round := range cfg.Rounds {
		fmt.Fprintf(cfg.Log, "round %d of %d\n", round+1, cfg.Rounds)
		for _, o := range outs {
			if o.skipped != "" || o.err != nil {
				continue
			}
			// Alternate which goes first so that neither always runs on a
			// machine the other has just warmed.
			order := []via{viaDirect, viaTollgate}
			if h.floor(o.sc) {
				order = append(order, viaRelay)
			}
			if o.sc.paired {
				order = append(order, viaRun)
			}
			if round%2 == 1 {
				slices.Reverse(order)
			}
			if o.sc.kind == kindStartup {
				// One start-up of each in turn, not a block of each: a
				// machine that drifts over the round moves them alike.
				samples, err := h.startups(ctx, o.sc, order)
				if err != nil {
					o.err = fmt.Errorf("%s: %w", o.sc.label(), err)
					fmt.Fprintf(cfg.Log, "  FAILED %v\n", o.err)
					continue
				}
				for i, v := range order {
					o.add(v, samples[i])
				}
				fmt.Fprintf(cfg.Log, "  %-48s %s\n", o.sc.label(), brief(o))
				continue
			}
			for _, v := range order {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				var s sample
				var err error
				if v == viaTollgate && o.sc.store == "redis" && h.floors() {
					// The Redis rows' floor: the relay's, plus this.
					var rtt time.Duration
					if rtt, err = redisRTT(ctx, h.cfg.Redis, 2000); err == nil {
						o.rtt = append(o.rtt, rtt)
					}
				}
				if err == nil {
					s, err = h.measure(ctx, o.sc, v, round)
				}
				if err != nil {
					o.err = fmt.Errorf("%s (%s): %w", o.sc.label(), v, err)
					fmt.Fprintf(cfg.Log, "  FAILED %v\n", o.err)
					break
				}
				o.add(v, s)
			}
			if o.err == nil {
				fmt.Fprintf(cfg.Log, "  %-48s %s\n", o.sc.label(), brief(o))
			}
		}
	}
	r := newReport(cfg, outs, time.Since(start))
	var errs []error
	for _, o := range outs {
		if o.err != nil {
			errs = append(errs, o.err)
		}
	}
	return r, errors.Join(errs...)
}

// add files s, measured via v.
func (o *outcome) add(v via, s sample) {
	switch v {
	case viaTollgate:
		o.proxied = append(o.proxied, s)
	case viaRelay:
		o.relay = append(o.relay, s)
	case viaRun:
		o.run = append(o.run, s)
	default:
		o.direct = append(o.direct, s)
	}
}

// floors reports whether this run measures the bare relay at all.
func (h *harness) floors() bool { return len(h.cfg.RelaySelf) > 0 && h.cfg.Profile == "" }

// floor reports whether sc also runs through the bare relay.
func (h *harness) floor(sc *Scenario) bool { return sc.floor && h.floors() }

func (sc *Scenario) label() string {
	if sc.kind == kindStartup {
		return sc.Name
	}
	return fmt.Sprintf("%s, %d in flight", sc.Name, sc.InFlight)
}

func brief(o *outcome) string {
	d, p := o.direct[len(o.direct)-1], o.proxied[len(o.proxied)-1]
	if o.sc.kind == kindStartup {
		return fmt.Sprintf("direct %v, Tollgate %v", d.p50.Round(time.Microsecond), p.p50.Round(time.Microsecond))
	}
	s := fmt.Sprintf("p50 %v → %v, %.0f → %.0f calls/s", d.p50.Round(time.Microsecond), p.p50.Round(time.Microsecond), d.perSec, p.perSec)
	if len(o.run) > 0 {
		s += fmt.Sprintf("; tollgate run beside it: p50 %v", o.run[len(o.run)-1].p50.Round(time.Microsecond))
	}
	return s
}

// unsupported says why a scenario cannot run here, "" when it can.
func (h *harness) unsupported(sc *Scenario) string {
	if sc.store == "redis" && h.cfg.Redis == "" {
		return "no redis-server on this machine"
	}
	if sc.front == httpT && !strings.Contains(h.features, "-listen") {
		return "this tollgate has no --listen flag yet"
	}
	if sc.upstream == httpT && !strings.Contains(h.features, "-upstream") {
		return "this tollgate has no --upstream flag yet"
	}
	if sc.upstream == stdio && sc.front == httpT && h.cfg.Profile != "" {
		return "not profiled"
	}
	return ""
}

// policyFile writes the scenario's policy and returns its path.
func (h *harness) policyFile(sc *Scenario) (string, error) {
	pol := sc.policy
	if sc.work == workListHidden {
		pol = hidePolicy(h.toolNames)
	}
	h.seq++
	path := filepath.Join(h.cfg.WorkDir, fmt.Sprintf("policy-%d.yaml", h.seq))
	if err := os.WriteFile(path, []byte(pol), 0o644); err != nil {
		return "", fmt.Errorf("write policy: %w", err)
	}
	return path, nil
}

// stateFlags returns the tollgate flags that select the scenario's store,
// and an audit directory and a state directory of the run's own: the audit
// trail and the pins tollgate run records by default are written as a
// user's would be, but never into the user's state directory.
func (h *harness) stateFlags(sc *Scenario) ([]string, error) {
	h.seq++
	own := []string{"--audit", filepath.Join(h.cfg.WorkDir, fmt.Sprintf("audit-%d", h.seq)),
		"--state-dir", filepath.Join(h.cfg.WorkDir, fmt.Sprintf("state-%d", h.seq))}
	switch sc.store {
	case "memory":
		return append([]string{"--state", "memory"}, own...), nil
	case "redis":
		return append([]string{"--state", h.cfg.Redis, "--state-prefix", fmt.Sprintf("bench-%d-%d", os.Getpid(), h.seq)}, own...), nil
	}
	return own, nil // SQLite in the state directory, as by default
}

// echoArgv returns the argv of the echo server for sc (over stdio, or over
// HTTP on addr).
func (h *harness) echoArgv(sc *Scenario, addr string) []string {
	argv := append([]string(nil), h.cfg.Echo...)
	if sc.work == workList || sc.work == workListHidden {
		argv = append(argv, "-tools", h.cfg.Fixture)
	}
	if addr != "" {
		argv = append(argv, "-http", addr)
	}
	return argv
}

// tools is the number of tools a tools/list answer must hold in sc.
func (h *harness) tools(sc *Scenario, v via) int {
	if sc.work == workListHidden && v == viaTollgate {
		return len(h.toolNames) - hiddenCount
	}
	return len(h.toolNames)
}

// measure runs sc once: directly, through Tollgate, or through the bare
// relay.
func (h *harness) measure(ctx context.Context, sc *Scenario, v via, round int) (sample, error) {
	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()
	// The upstream.
	var upstreamURL string
	if sc.upstream == httpT {
		addr, err := freeAddr()
		if err != nil {
			return sample{}, err
		}
		p, err := startProcess(h.echoArgv(sc, addr), nil)
		if err != nil {
			return sample{}, err
		}
		cleanup = append(cleanup, p.stop)
		if err := p.waitTCP(ctx, addr); err != nil {
			return sample{}, err
		}
		upstreamURL = "http://" + addr + "/mcp"
	}

	// The client, and the process whose costs are Tollgate's.
	var (
		client load.Client
		pid    int
	)
	switch {
	case v == viaDirect && sc.upstream == httpT:
		client = load.NewHTTP(upstreamURL, sc.InFlight)
	case v == viaDirect:
		c, err := load.StartStdio(h.echoArgv(sc, ""), nil)
		if err != nil {
			return sample{}, err
		}
		client = c
	default:
		var (
			argv, env []string
			err       error
		)
		switch v {
		case viaRelay:
			argv = h.relayArgv(sc, upstreamURL)
		case viaRun:
			plain := *sc // the same load through tollgate run, empty policy
			plain.gateway, plain.policy = false, policyEmpty
			argv, env, err = h.tollgateArgv(&plain, upstreamURL, round, false)
		default:
			argv, env, err = h.tollgateArgv(sc, upstreamURL, round, true)
		}
		if err != nil {
			return sample{}, err
		}
		if sc.front == httpT {
			addr, err := freeAddr()
			if err != nil {
				return sample{}, err
			}
			argv = insertFlags(argv, "--listen", addr)
			p, err := startProcess(argv, env)
			if err != nil {
				return sample{}, err
			}
			cleanup = append(cleanup, p.stop)
			if err := p.waitTCP(ctx, addr); err != nil {
				return sample{}, err
			}
			client, pid = load.NewHTTP("http://"+addr+h.cfg.ListenPath, sc.InFlight), p.pid()
		} else {
			c, err := load.StartStdio(argv, env)
			if err != nil {
				return sample{}, err
			}
			client, pid = c, c.PID()
		}
	}
	closed := false
	closeClient := func() error {
		if closed {
			return nil
		}
		closed = true
		return client.Close()
	}
	cleanup = append(cleanup, func() { _ = closeClient() })

	if err := load.Initialize(ctx, client); err != nil {
		return sample{}, withStderr(err, client)
	}
	w := workload(sc.work, h.tools(sc, v))
	if sc.gateway && v == viaTollgate {
		w = workloadAs(sc.work, h.tools(sc, v), gatewayPrefix+"__")
	}
	res, err := load.Run(ctx, client, w, load.Options{
		InFlight: sc.InFlight, Warmup: h.cfg.Warmup, Duration: h.cfg.Duration})
	if err != nil {
		return sample{}, withStderr(err, client)
	}
	s := sample{p50: res.Latency.Quantile(0.50), p99: res.Latency.Quantile(0.99), perSec: res.PerSecond()}
	if pid != 0 {
		peak, cpu, err := procStats(pid)
		if err != nil {
			return sample{}, err
		}
		s.peakKB = peak
		s.cpu = cpu / time.Duration(res.Total+1) // +1: the handshake
	}
	if err := closeClient(); err != nil {
		return sample{}, withStderr(err, client)
	}
	return s, nil
}

func withStderr(err error, c load.Client) error {
	if s, ok := c.(*load.Stdio); ok && s.Stderr() != "" && !strings.Contains(err.Error(), "stderr of the command") {
		return fmt.Errorf("%w\nstderr of the command:\n%s", err, s.Stderr())
	}
	return err
}

// tollgateArgv returns the command that runs Tollgate (or, when profiling, the
// in-process proxy) in front of the scenario's upstream.
func (h *harness) tollgateArgv(sc *Scenario, upstreamURL string, round int, profile bool) (argv, env []string, err error) {
	pol, err := h.policyFile(sc)
	if err != nil {
		return nil, nil, err
	}
	state, err := h.stateFlags(sc)
	if err != nil {
		return nil, nil, err
	}
	if profile && h.cfg.Profile != "" && sc.front == stdio && sc.upstream == stdio {
		argv = append(append([]string(nil), h.cfg.ProxySelf...), "-c", pol)
		if sc.gateway {
			argv = append(argv, "-gateway", gatewayPrefix)
		}
		name := strings.NewReplacer(" ", "-", ",", "", "/", "-", "+", "", "→", "to").Replace(sc.label())
		env = []string{"TOLLGATE_BENCH_CPUPROFILE=" + filepath.Join(h.cfg.Profile, fmt.Sprintf("%s-r%d.pprof", name, round+1))}
	} else if sc.gateway {
		file, err := h.gatewayFile(sc, pol)
		if err != nil {
			return nil, nil, err
		}
		return append([]string{h.cfg.Tollgate, "gateway", "-c", file, "--log-level", "warn"}, state...), nil, nil
	} else {
		argv = []string{h.cfg.Tollgate, "run", "-c", pol, "--log-level", "warn"}
	}
	argv = append(argv, state...)
	if sc.upstream == httpT {
		return append(argv, "--upstream", upstreamURL), env, nil
	}
	argv = append(argv, "--")
	return append(argv, h.echoArgv(sc, "")...), env, nil
}

// gatewayFile writes a gateway file serving the echo server alone, under
// gatewayPrefix, with the scenario's policy as its policy file.
func (h *harness) gatewayFile(sc *Scenario, policyFile string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "version: \"1\"\nservers:\n  %s:\n    command: [", gatewayPrefix)
	for i, a := range h.echoArgv(sc, "") {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", a)
	}
	fmt.Fprintf(&b, "]\n    policy: %q\n", policyFile)
	path := filepath.Join(h.cfg.WorkDir, fmt.Sprintf("gateway-%d.yaml", h.seq))
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return "", fmt.Errorf("write gateway file: %w", err)
	}
	return path, nil
}

// relayArgv returns the command that runs the bare relay in Tollgate's
// place.
func (h *harness) relayArgv(sc *Scenario, upstreamURL string) []string {
	argv := append([]string(nil), h.cfg.RelaySelf...)
	if sc.upstream == httpT {
		return append(argv, "--upstream", upstreamURL)
	}
	return append(append(argv, "--"), h.echoArgv(sc, "")...)
}

// insertFlags puts flags before the "--" that starts the server command (or
// at the end when there is none).
func insertFlags(argv []string, flags ...string) []string {
	for i, a := range argv {
		if a == "--" {
			out := append(append(append([]string(nil), argv[:i]...), flags...), argv[i:]...)
			return out
		}
	}
	return append(argv, flags...)
}

// idleSettle is how long after its first answer a start-up row reads the
// tollgate process's peak memory, in the last start-up of each round.
const idleSettle = 300 * time.Millisecond

// startups measures cfg.Starts start-ups of each of vias (start the
// process, initialize, wait for the first tools/list answer), one of each in
// turn, in the order of vias and then the reverse, and returns a sample for
// each of vias.
func (h *harness) startups(ctx context.Context, sc *Scenario, vias []via) ([]sample, error) {
	argvs := make([][]string, len(vias))
	for i, v := range vias {
		argvs[i] = h.echoArgv(sc, "")
		switch v {
		case viaTollgate:
			var err error
			if argvs[i], _, err = h.tollgateArgv(sc, "", 0, false); err != nil {
				return nil, err
			}
		case viaRelay:
			argvs[i] = h.relayArgv(sc, "")
		}
	}
	w := workload(workList, len(h.toolNames))
	w.Check = func(id int64, resp []byte) error { _, err := load.CheckID(id, resp); return err }
	lats := make([]load.Histogram, len(vias))
	samples := make([]sample, len(vias))
	for n := range h.cfg.Starts {
		for k := range vias {
			if n%2 == 1 {
				k = len(vias) - 1 - k
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			v := vias[k]
			// Tollgate's idle memory, and the bare relay's beside it.
			measured := v == viaTollgate || v == viaRelay
			t0 := time.Now()
			c, err := load.StartStdio(argvs[k], nil)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", v, err)
			}
			err = load.Initialize(ctx, c)
			if err == nil {
				var resp []byte
				if resp, err = c.Do(ctx, 1, w.Request(1)); err == nil {
					err = w.Check(1, resp)
				}
			}
			lats[k].Record(time.Since(t0))
			if err == nil && measured {
				if n == h.cfg.Starts-1 {
					// What a process does just after its first answer (pins
					// recorded off the answer's path) counts in its idle
					// memory: the last start-up of the round is read after a
					// pause.
					time.Sleep(idleSettle)
				}
				var kb int64
				kb, _, err = procStats(c.PID())
				samples[k].peakKB = max(samples[k].peakKB, kb)
			}
			if cerr := c.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", v, withStderr(err, c))
			}
		}
	}
	for k := range samples {
		samples[k].p50, samples[k].p99 = lats[k].Quantile(0.5), lats[k].Quantile(0.99)
	}
	return samples, nil
}
