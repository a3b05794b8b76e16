package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tollgate-mcp/tollgate/internal/audit"
	"github.com/tollgate-mcp/tollgate/internal/calls"
	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/gateway"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/metrics"
	"github.com/tollgate-mcp/tollgate/internal/pins"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/reload"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
	"github.com/tollgate-mcp/tollgate/internal/transport/streamhttp"
)

const gatewayUsage = `Usage: tollgate gateway -c gateway.yaml [flags]
       tollgate gateway -c gateway.yaml --listen 127.0.0.1:8080 [flags]

Serves every MCP server gateway.yaml names as one MCP server: their tools
and prompts namespaced (SERVER__TOOL by default), their resources routed by
URI, each server judged by its own policy and all of them by the file's
gateway-wide policy. A server that fails or dies is started again with
backoff while the others keep serving; the client is told its tools came
and went (notifications/tools/list_changed). See docs/gateway.md.

Put it in an MCP client's configuration in place of the servers:

  "command": "tollgate",
  "args": ["gateway", "-c", "/path/to/gateway.yaml"]

With --listen, HTTP clients connect at http://ADDR/mcp instead, with the
same authentication, TLS and Origin checks as tollgate run --listen.
Stateless (2026-07-28) requests share servers the gateway keeps running,
so several gateways started from one file on one --state redis://... can
serve them behind a load balancer without session affinity.

Flags:
`

func runGateway(ctx context.Context, e env, args []string) int {
	var f runFlags
	fs := flag.NewFlagSet("tollgate gateway", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, gatewayUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.config, "c", "", "gateway file (required)")
	fs.StringVar(&f.config, "config", "", "gateway file (same as -c)")
	fs.StringVar(&f.identity, "identity", "", "the caller's identity, for per: identity limits and the audit trail")
	fs.IntVar(&f.maxMessage, "max-message-size", jsonrpc.DefaultMaxFrame, "largest accepted message in bytes")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level on stderr: debug, info, warn, error")
	fs.StringVar(&f.mode, "mode", "enforce", "enforce, or monitor: record what would be denied but forward every call")
	f.http.register(fs)
	f.stateFlags.register(fs)
	fs.StringVar(&f.ops.audit, "audit", "", "audit trail directory, or off (default <state-dir>/audit)")
	fs.StringVar(&f.ops.auditMaxSize, "audit-max-size", "64MiB", "rotate an audit file when it reaches this size")
	fs.StringVar(&f.ops.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics (default off)")
	fs.BoolVar(&f.ops.watch, "watch", true, "apply changes to the policy files the gateway file names without a restart (the gateway file itself is read at start)")
	f.trace.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "tollgate gateway: unexpected arguments %q: the servers are named in the gateway file\n", fs.Args())
		return exitUsage
	}
	if f.config == "" {
		fmt.Fprintln(e.stderr, "tollgate gateway: a gateway file is required (-c gateway.yaml)")
		return exitUsage
	}
	if f.http.sharedUpstream {
		fmt.Fprintln(e.stderr, "tollgate gateway: --shared-upstream does not apply: the gateway starts its servers for each session")
		return exitUsage
	}
	if msg := f.misused(fs); msg != "" {
		fmt.Fprintf(e.stderr, "tollgate gateway: %s\n", msg)
		return exitUsage
	}
	logger, err := newLogger(e, f.logLevel)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate gateway: %v\n", err)
		return exitUsage
	}
	cfg, err := gateway.LoadFile(f.config)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate gateway: %v\n", err)
		return exitFail
	}
	if f.state == "" {
		f.state = cfg.State
	}
	hubPolicy := cfg.Policy
	if hubPolicy == nil {
		hubPolicy, _ = policy.Load(f.config+" (no gateway-wide policy)", []byte("version: \"1\"\n"))
	}
	names := make([]string, len(cfg.Servers))
	pols := make([]*policy.Policy, len(cfg.Servers))
	for i, s := range cfg.Servers {
		names[i], pols[i] = s.Name, s.Policy
	}
	if !f.http.enabled() {
		oneCore(logger)
	}
	watch := f.ops.watch // buildGatewayGates turns it off for the gateway file
	hub, gates, cleanup, err := buildGatewayGates(ctx, &f, hubPolicy, names, pols, logger)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate gateway: %v\n", err)
		return exitFail
	}
	defer cleanup()
	if !f.http.enabled() {
		quietCores(logger, append([]*gate.Gate{hub}, gates...)...)
	}
	if watch {
		logger.Debug("watching the gateway's policy files")
		stopWatch, err := watchGatewayPolicies(ctx, cfg, hub, gates, logger)
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate gateway: %v\n", err)
			return exitFail
		}
		defer stopWatch()
	}
	servers := make([]*gateway.Server, len(cfg.Servers))
	for i, sc := range cfg.Servers {
		dial, err := serverDialer(e, &f, sc, logger)
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate gateway: server %s: %v\n", sc.Name, err)
			return exitFail
		}
		stopPins, err := setupGatewayPins(ctx, &f, sc, gates[i], logger)
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate gateway: server %s: %v\n", sc.Name, err)
			return exitFail
		}
		defer stopPins()
		ns := sc.Prefix + cfg.Separator
		if sc.Prefix == "" {
			ns = "" // served unprefixed
		}
		gates[i].Recorder = &gateway.Recorder{Server: sc.Name, Namespace: ns, Next: gates[i].Recorder}
		if a := hub.Approvals; a != nil {
			gates[i].Approvals = &gate.Approvals{Store: &gateway.ApprovalStore{Store: a.Store, Namespace: ns},
				Notifier: a.Notifier, InlineWait: a.InlineWait}
		}
		servers[i] = &gateway.Server{Name: sc.Name, Prefix: sc.Prefix, Bare: sc.Prefix == "", Gate: gates[i], Dial: dial}
	}
	opts := gateway.Options{
		Separator:      cfg.Separator,
		StartupTimeout: cfg.StartupTimeout,
		RequestTimeout: cfg.RequestTimeout,
		MinBackoff:     cfg.MinBackoff,
		MaxBackoff:     cfg.MaxBackoff,
		Logger:         logger,
		CursorKey:      cursorKey(f.config),
	}
	if cfg.Policy != nil {
		opts.Hub = hub
	}
	if rs := serverStateRecorders(hub.Recorder); len(rs) > 0 {
		opts.OnChange = func(server string, up bool, err error) {
			for _, r := range rs {
				r.ServerState(server, up, err)
			}
		}
	}
	gw, err := gateway.New(servers, opts)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate gateway: %v\n", err)
		return exitFail
	}
	defer gw.Close()
	if f.http.enabled() {
		f.http.handler, f.http.dialer = gw, gateway.NoUpstream
		return runHTTP(ctx, e, &f, hub, logger, nil)
	}
	runCtx, cancel := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	client := stdio.NewConn(pollableStdin(e), pollableStdout(e), f.maxMessage)
	err = gw.Serve(runCtx, &transport.Session{ID: newSessionID(), Identity: f.identity}, client, nil)
	if err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("session ended with an error", "err", err)
		return exitFail
	}
	return exitOK
}

// cursorKey is the key that signs the gateway's list cursors: derived from
// the gateway file, so that gateways started from the same file (behind
// one load balancer) accept each other's cursors, and gateways of other
// files do not. nil (a random key) when the file cannot be read again.
func cursorKey(path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256(append([]byte("tollgate gateway list cursors\x00"), data...))
	return sum[:]
}

// serverStateRecorder is a recorder that is also told when a server behind
// the gateway comes up or goes down: the audit trail (a "server" line, read
// by tollgate status) and the metrics (tollgate_gateway_server_up).
type serverStateRecorder interface {
	ServerState(server string, up bool, err error)
}

var (
	_ serverStateRecorder = (*audit.Log)(nil)
	_ serverStateRecorder = (*metrics.Metrics)(nil)
)

// serverStateRecorders returns the recorders setupOps gave the gate that
// want server states.
func serverStateRecorders(r event.Recorder) []serverStateRecorder {
	all := []event.Recorder{r}
	if f, ok := r.(fanout); ok {
		all = f
	}
	var out []serverStateRecorder
	for _, r := range all {
		if s, ok := r.(serverStateRecorder); ok {
			out = append(out, s)
		}
	}
	return out
}

// buildGatewayGates builds the gateway-wide gate as buildGate builds run's
// (state backend, approvals, audit trail, metrics; no policy watcher, the
// gateway file is not a policy) and one gate per server policy sharing all
// of it: one backend for every --state spec, each server's counters under
// its own scope (gateway.ScopedStore, "NAME:tool"), one approval store, one audit trail
// and one set of metrics. The caller tags each server gate's Recorder.
func buildGatewayGates(ctx context.Context, f *runFlags, hubPol *policy.Policy, names []string, pols []*policy.Policy, logger *slog.Logger) (hub *gate.Gate, gates []*gate.Gate, cleanup func(), err error) {
	f.ops.watch = false
	hub, cleanup, err = buildGate(ctx, f, hubPol, logger)
	if err != nil {
		return nil, nil, nil, err
	}
	// Tool definitions are pinned per server (setupGatewayPins), by the
	// servers' own names: the gateway-wide gate pins nothing.
	hub.Pins = nil
	for i, pol := range pols {
		g := gate.New(pol)
		store, err := f.stateFlags.open(ctx, pol)
		if err != nil {
			cleanup()
			return nil, nil, nil, err
		}
		if store != nil {
			g.Store = &gateway.ScopedStore{Store: store, Server: names[i]}
			// As buildGate does: a gate with a counter store keeps the
			// retries and tasks of stateless sessions beside it, shared
			// with other gateway processes on the backend; each server's
			// apart, as its counters are (a round or task id of one
			// server is not another's).
			shared, err := f.stateFlags.calls(ctx)
			if err != nil {
				cleanup()
				return nil, nil, nil, err
			}
			g.Calls = &calls.Scoped{Store: shared, Scope: names[i]}
		}
		g.Tracer = hub.Tracer
		g.FailOpen = f.failMode == "open"
		g.Logger = logger
		g.Monitor = f.mode == "monitor"
		g.Approvals = hub.Approvals
		g.Recorder = hub.Recorder
		g.AuditHealth = hub.AuditHealth
		if pol.AuditRequired() && g.AuditHealth == nil {
			cleanup()
			return nil, nil, nil, fmt.Errorf("server %s: %w", names[i], errAuditRequired)
		}
		gates = append(gates, g)
	}
	return hub, gates, cleanup, nil
}

// watchGatewayPolicies watches the policy files the gateway file names (a
// server's, the gateway-wide one) as tollgate run watches its policy: a
// valid new version is in force for that gate's next call, an invalid one
// is logged and the one in force stays. The gateway file itself, with the
// policies written inline in it, is read at start only. gates are the
// servers' in cfg's order. stop stops every watcher.
func watchGatewayPolicies(ctx context.Context, cfg *gateway.Config, hub *gate.Gate, gates []*gate.Gate, logger *slog.Logger) (stop func(), err error) {
	// The gateway's audit trail and metrics are among the hub's recorders
	// (setupOps): they record every reload, as tollgate run's do.
	var (
		alog *audit.Log
		m    *metrics.Metrics
	)
	all := []event.Recorder{hub.Recorder}
	if f, ok := hub.Recorder.(fanout); ok {
		all = f
	}
	for _, r := range all {
		switch r := r.(type) {
		case *audit.Log:
			alog = r
		case *metrics.Metrics:
			m = r
		}
	}
	report := reportReload(alog, m)
	var ws []*reload.Watcher
	stop = func() {
		for _, w := range ws {
			w.Close()
		}
	}
	watch := func(path, server string, pol *policy.Policy, g *gate.Gate) error {
		log := logger
		if server != "" {
			log = logger.With("server", server)
		}
		w, err := reload.Watch(ctx, reload.Options{
			Path:     path,
			Revision: pol.Revision(),
			Suffix:   []byte(gateway.PolicyTag(server)),
			Logger:   log,
			Apply: func(p *policy.Policy) error {
				if p.Stateful() && g.Store == nil {
					return errors.New("the new policy has rate limits or state rules, but the gateway started without a state store for it (the old policy had none); restart the gateway to apply it")
				}
				if p.AuditRequired() && g.AuditHealth == nil {
					return errAuditRequired
				}
				if g == hub && alog != nil {
					// The audit trail follows the gateway-wide policy's
					// audit: section, as at start.
					if err := alog.SetConfig(p.Audit()); err != nil {
						return err
					}
				}
				g.SetPolicy(p)
				return nil
			},
			Report: report,
		})
		if err != nil {
			return fmt.Errorf("watch %s: %w", path, err)
		}
		ws = append(ws, w)
		return nil
	}
	if cfg.PolicyPath != "" {
		if err := watch(cfg.PolicyPath, "", cfg.Policy, hub); err != nil {
			stop()
			return nil, err
		}
	}
	for i, sc := range cfg.Servers {
		if sc.PolicyPath == "" {
			continue
		}
		if err := watch(sc.PolicyPath, sc.Name, sc.Policy, gates[i]); err != nil {
			stop()
			return nil, err
		}
	}
	return stop, nil
}

// setupGatewayPins gives a server's gate its pin guard, keyed by the
// server's name in the gateway file. The mode is the server's policy's
// pins: when it has one, else the gateway file's pins: for the server, else
// enforce: behind a gateway a changed tool definition is held until a
// person approves it. A store that cannot be opened stops the gateway under
// enforce; under record it is logged and pins are left off.
// Under enforce, while something is held, an approval given elsewhere (the
// CLI, another proxy) releases it and tells the sessions their list
// changed; stop ends that watch.
func setupGatewayPins(ctx context.Context, f *runFlags, sc gateway.ServerConfig, g *gate.Gate, logger *slog.Logger) (stop func(), err error) {
	stop = func() {}
	def := pins.Enforce
	if m, err := pins.ParseMode(sc.Pins); err == nil {
		def = m
	}
	mode := def
	if m, err := pins.ParseMode(sc.Policy.Pins()); err == nil {
		mode = m
	}
	if mode == pins.Off {
		return stop, nil
	}
	b, err := f.stateFlags.backend(ctx)
	var store *pins.Store
	if err == nil {
		store, err = b.Pins(ctx)
	}
	if err != nil {
		if mode == pins.Enforce {
			return nil, fmt.Errorf("pins: enforce: %w", err)
		}
		logger.Warn("pins: the state store could not be opened; tool definitions are not recorded", "server", sc.Name, "err", err)
		return stop, nil
	}
	guard := pins.NewGuard(sc.Name, store)
	if err := guard.Load(ctx, sc.Policy.Approvals().Approvers); err != nil {
		logger.Warn("pins: could not read the recorded definitions; calls are judged from the next tools/list", "server", sc.Name, "err", err)
	}
	g.Pins = guard
	g.PinsDefault = def
	if mode != pins.Enforce {
		return func() { flushPins(g, logger) }, nil
	}
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		guard.Watch(wctx, pinWatchInterval, func() map[string]ed25519.PublicKey { return g.Policy().Approvals().Approvers },
			func() { g.PinApproved(pins.Pin{}) })
	}()
	return func() { cancel(); <-done; flushPins(g, logger) }, nil
}

// serverDialer returns how a session reaches one server of the gateway
// file: a child process per session, or an HTTP client.
func serverDialer(e env, f *runFlags, sc gateway.ServerConfig, logger *slog.Logger) (transport.Dialer, error) {
	if sc.URL != "" {
		var hl headerList
		for _, h := range sc.Header {
			hl = append(hl, h[0]+": "+h[1])
		}
		h, err := hl.header(os.LookupEnv)
		if err != nil {
			return nil, err
		}
		opts := streamhttp.ClientOptions{Header: h, ConnectTimeout: streamhttp.DefaultConnectTimeout,
			MaxMessageSize: f.maxMessage, ReinitOn404: true, Logger: logger.With("server", sc.Name)}
		url := sc.URL
		return transport.DialFunc(func(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
			c, err := streamhttp.Dial(ctx, url, opts)
			if err != nil {
				return nil, nil, err
			}
			return c, nil, nil
		}), nil
	}
	var env []string
	if len(sc.Env) > 0 {
		env = os.Environ()
		for _, kv := range sc.Env {
			name, value, _ := strings.Cut(kv, "=")
			v, err := expandEnv(value, os.LookupEnv)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", name, err)
			}
			env = append(env, name+"="+v)
		}
	}
	argv, dir := sc.Command, sc.Dir
	return transport.DialFunc(func(ctx context.Context, s *transport.Session) (transport.Conn, func(), error) {
		child, err := stdio.StartChild(ctx, argv, stdio.ChildOptions{Env: env, Dir: dir, Stderr: e.stderr, MaxFrame: f.maxMessage})
		if err != nil {
			return nil, nil, err
		}
		return child.Conn(), func() { child.Stop(stdio.StopGrace) }, nil
	}), nil
}

var _ proxy.Gate = (*gate.Gate)(nil)
