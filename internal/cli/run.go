package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

const runUsage = `Usage: tollgate run -c policy.yaml [flags] -- COMMAND [ARGS...]
       tollgate run -c policy.yaml [flags] --upstream URL [--header "Name: value"]...
       tollgate run -c policy.yaml --listen 127.0.0.1:8080 [flags] (-- COMMAND... | --upstream URL)

Starts COMMAND as a stdio MCP server and relays an MCP client on Tollgate's
own stdin and stdout to it, enforcing the policy on every tools/call.
Put it in an MCP client's configuration in place of the server's command:

  "command": "tollgate",
  "args": ["run", "-c", "policy.yaml", "--", "npx", "-y", "@modelcontextprotocol/server-everything"]

With --upstream the server is a remote one (streamable HTTP, or legacy
HTTP+SSE). With --listen, HTTP clients connect to Tollgate instead, at
http://ADDR/mcp (https:// with --tls-cert and --tls-key); see docs/http.md.

Serving one stdio client, Tollgate runs on one processor (GOMAXPROCS=1), or
on two while its calls do not overlap when no store it waits on holds its
counters (none, or --state memory); GOMAXPROCS in the environment chooses.

Flags:
`

// runFlags are the flags of tollgate run.
type runFlags struct {
	config     string
	identity   string
	maxMessage int
	logLevel   string
	mode       string
	upstream   upstreamFlags // --upstream URL: an HTTP server instead of a command
	admin      adminFlags    // --admin-addr: the admin API (run_admin.go)
	ops        opsFlags      // --audit, --metrics-addr, --watch (run_ops.go)
	http       httpFlags     // --listen: serve HTTP clients (run_http.go)
	trace      traceFlags    // --otlp-endpoint: traces (run_trace.go)
	pins       pinFlags      // --server-name: whose pins (pins.go)
	stateFlags

	// policySuffix is appended to the policy file's content when it is
	// loaded, at start and on reload (serverPolicyTag).
	policySuffix []byte
}

// loadPolicy loads the policy file tagged with the server's name (see
// serverPolicyTag).
func (f *runFlags) loadPolicy() (*policy.Policy, error) {
	data, err := os.ReadFile(f.config)
	if err != nil {
		return nil, fmt.Errorf("load policy: %w", err)
	}
	f.policySuffix = serverPolicyTag(f.serverName())
	return policy.Load(f.config, append(data, f.policySuffix...))
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "c", "", "policy file (required)")
	fs.StringVar(&f.config, "config", "", "policy file (same as -c)")
	fs.StringVar(&f.identity, "identity", "", "the caller's identity, for per: identity limits and the audit trail")
	fs.IntVar(&f.maxMessage, "max-message-size", jsonrpc.DefaultMaxFrame, "largest accepted message in bytes")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level on stderr: debug, info, warn, error")
	fs.StringVar(&f.mode, "mode", "enforce", "enforce, or monitor: record what would be denied but forward every call")
	f.upstream.register(fs)
	f.admin.register(fs)
	f.ops.register(fs)
	f.http.register(fs)
	f.trace.register(fs)
	f.pins.register(fs)
	f.stateFlags.register(fs)
}

func runRun(ctx context.Context, e env, args []string) int {
	var f runFlags
	fs := flag.NewFlagSet("tollgate run", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, runUsage)
		fs.PrintDefaults()
	}
	f.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	argv := fs.Args()
	f.pins.argv = argv
	if f.config == "" {
		fmt.Fprintln(e.stderr, "tollgate run: a policy file is required (-c policy.yaml)")
		return exitUsage
	}
	if f.upstream.url != "" && len(argv) > 0 {
		fmt.Fprintln(e.stderr, "tollgate run: give either --upstream URL or a server command after --, not both")
		return exitUsage
	}
	if len(argv) == 0 && f.upstream.url == "" {
		fmt.Fprintln(e.stderr, "tollgate run: no server command given: put it after --, e.g. tollgate run -c policy.yaml -- npx -y @modelcontextprotocol/server-everything")
		return exitUsage
	}
	if msg := f.misused(fs); msg != "" {
		fmt.Fprintf(e.stderr, "tollgate run: %s\n", msg)
		return exitUsage
	}
	logger, err := newLogger(e, f.logLevel)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate run: %v\n", err)
		return exitUsage
	}
	pol, err := f.loadPolicy()
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate run: %v\n", err)
		return exitFail
	}
	// A stdio server is started before the gate is built (state store,
	// audit log, reload watcher): the server's own start-up, usually the
	// longest part of a session's start, overlaps Tollgate's. Nothing reads
	// its output until the gate is ready, and it is stopped if the gate
	// cannot be built. The policy is read first, so a policy error never
	// starts the server.
	var child *stdioChild
	if !f.http.enabled() && f.upstream.url == "" {
		oneCore(logger)
		if child, err = startStdioChild(ctx, e, &f, argv); err != nil {
			fmt.Fprintf(e.stderr, "tollgate run: %v\n", err)
			return exitFail
		}
	}
	g, cleanup, err := buildGate(ctx, &f, pol, logger)
	if err != nil {
		if child != nil {
			child.abandon()
		}
		fmt.Fprintf(e.stderr, "tollgate run: %v\n", err)
		return exitFail
	}
	defer cleanup()
	if child != nil {
		quietCores(logger, g)
	}
	if f.http.enabled() {
		return runHTTP(ctx, e, &f, g, logger, argv)
	}
	if f.upstream.url != "" {
		return runBridge(ctx, e, &f, g, logger)
	}
	return runStdio(ctx, e, &f, g, logger, child)
}

// misused says what is wrong with flags that parsed but do not go
// together (an HTTP front's flag without --listen, an unknown --mode), ""
// when nothing is. tollgate run and tollgate gateway share it.
func (f *runFlags) misused(fs *flag.FlagSet) string {
	if !f.http.enabled() {
		var only []string
		fs.Visit(func(fl *flag.Flag) {
			if httpOnlyFlags[fl.Name] {
				only = append(only, "--"+fl.Name)
			}
		})
		if len(only) > 0 {
			return strings.Join(only, ", ") + " only apply to an HTTP front: add --listen ADDR"
		}
	}
	if f.mode != "enforce" && f.mode != "monitor" {
		return fmt.Sprintf("--mode must be enforce or monitor, not %q", f.mode)
	}
	return ""
}

// httpOnlyFlags are the flags of the HTTP front, meaningless without
// --listen.
var httpOnlyFlags = map[string]bool{
	"tls-cert": true, "tls-key": true, "api-keys": true, "jwt-jwks": true, "jwt-issuer": true,
	"jwt-audience": true, "shared-upstream": true, "public-url": true, "allow-origin": true,
	"session-timeout": true, "shutdown-timeout": true,
}

// buildGate assembles the gate and everything behind it (state store, and
// the services later features add). cleanup releases them. A gate with a
// counter store gets the call store of the same backend (gate.Gate.Calls).
func buildGate(ctx context.Context, f *runFlags, pol *policy.Policy, logger *slog.Logger) (g *gate.Gate, cleanup func(), err error) {
	tracer, stopTrace, err := f.trace.start(logger)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			stopTrace()
		}
	}()
	store, err := f.stateFlags.open(ctx, pol)
	if err != nil {
		return nil, nil, err
	}
	g = gate.New(pol)
	g.Tracer = tracer
	g.Store = store
	if store != nil {
		// The call records of stateless sessions (retries, tasks) live
		// beside the counters: instances sharing them share those too.
		if g.Calls, err = f.stateFlags.calls(ctx); err != nil {
			store.Close()
			f.stateFlags.closeBackend()
			return nil, nil, err
		}
	}
	g.FailOpen = f.failMode == "open"
	g.Logger = logger
	g.Monitor = f.mode == "monitor"
	stopPins, err := setupPins(ctx, f, pol, g, logger)
	if err != nil {
		if store != nil {
			store.Close()
		}
		f.stateFlags.closeBackend()
		return nil, nil, err
	}
	stopApprovals, err := setupApprovals(ctx, f, pol, g, logger)
	if err != nil {
		stopPins()
		if store != nil {
			store.Close()
		}
		return nil, nil, err
	}
	stopOps, err := setupOps(ctx, f, pol, g, logger)
	if err != nil {
		stopApprovals()
		stopPins()
		if store != nil {
			store.Close()
		}
		return nil, nil, err
	}
	cleanup = func() {
		defer stopTrace() // last: the calls' spans end before it
		stopPins()        // first: the lists it still records go to the audit trail and the store
		stopOps()
		stopApprovals()
		if store != nil {
			store.Close()
		}
		f.stateFlags.closeBackend() // the one handle both stores share
	}
	return g, cleanup, nil
}

// runStdio serves an MCP client on Tollgate's stdin/stdout with a child
// server process as the upstream. The session ends when the client's input
// ends, when the child exits, or on SIGINT or SIGTERM; the child is then
// stopped the careful way (stdio.Child.Stop: stdin closed, SIGTERM to its
// process group after stdio.StopGrace, SIGKILL after as long again) while
// its last output is still relayed to the client, for at most
// stdio.DrainTimeout after it has gone. A second SIGINT or SIGTERM kills
// the child's group at once. SIGHUP is passed on to the child's group.
//
// The exit status is 128+N when signal N (SIGINT or SIGTERM) stopped
// Tollgate, and otherwise the child's: its exit code, or 128+N when signal
// N ended it (143 or 137 when it had to be stopped by force).
// stdioChild is the server `tollgate run` started for its stdio session,
// with the signals caught from before it started.
type stdioChild struct {
	*stdio.Child
	sigs chan os.Signal
}

// startStdioChild catches SIGINT, SIGTERM and SIGHUP (before the child
// starts, so none is missed; runStdio reads them) and starts the server.
func startStdioChild(ctx context.Context, e env, f *runFlags, argv []string) (*stdioChild, error) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	if ctx.Err() != nil {
		signal.Stop(sigs)
		return nil, errors.New("stopped before the server was started")
	}
	c, err := stdio.StartChild(ctx, argv, stdio.ChildOptions{Stderr: e.stderr, MaxFrame: f.maxMessage})
	if err != nil {
		signal.Stop(sigs)
		return nil, err
	}
	return &stdioChild{Child: c, sigs: sigs}, nil
}

// abandon stops a child whose session will not run.
func (c *stdioChild) abandon() {
	c.Stop(stdio.StopGrace)
	signal.Stop(c.sigs)
}

func runStdio(ctx context.Context, e env, f *runFlags, g *gate.Gate, logger *slog.Logger, child *stdioChild) int {
	// Signals are read by this goroutine only: nothing outlives the run.
	sigs := child.sigs
	defer signal.Stop(sigs)

	in := pollableStdin(e)
	client := stdio.NewConn(in, pollableStdout(e), f.maxMessage)
	session := &transport.Session{ID: newSessionID(), Identity: f.identity}
	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pumpDone := make(chan error, 1)
	go func() { pumpDone <- proxy.NewHandler(g, logger).Serve(runCtx, session, client, child.Conn()) }()

	var (
		stopSig  syscall.Signal // the SIGINT or SIGTERM that stopped Tollgate
		pumpErr  error
		pumpOver bool
	)
	onSignal := func(s os.Signal) {
		sig := s.(syscall.Signal)
		switch {
		case sig == syscall.SIGHUP:
			child.Signal(sig)
		case stopSig != 0:
			child.Kill() // asked twice: no more patience
		default:
			stopSig = sig
		}
	}
wait:
	for {
		select {
		case s := <-sigs:
			onSignal(s)
			if stopSig != 0 {
				break wait
			}
		case <-ctx.Done():
			break wait
		case <-child.InputClosed(): // the client's input ended
			break wait
		case <-child.Done():
			break wait
		case pumpErr = <-pumpDone:
			pumpOver = true
			break wait
		}
	}

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		child.Stop(stdio.StopGrace)
	}()
	for stopping := true; stopping; {
		select {
		case s := <-sigs:
			onSignal(s)
		case <-stopped:
			stopping = false
		}
	}
	// The child has gone: relay what it wrote before it went, for a bounded
	// time (a process outside its group may hold its stdout open).
	if !pumpOver {
		drain := time.NewTimer(stdio.DrainTimeout)
		select {
		case pumpErr = <-pumpDone:
		case <-drain.C:
			cancel()
			pumpErr = <-pumpDone
		}
		drain.Stop()
	}
	if pumpErr != nil && !errors.Is(pumpErr, proxy.ErrUpstreamClosed) && !errors.Is(pumpErr, context.Canceled) {
		logger.Error("session ended with an error", "err", pumpErr)
	}
	for more := true; more && stopSig == 0; {
		select { // a signal that raced the end of the run still counts
		case s := <-sigs:
			onSignal(s)
		default:
			more = false
		}
	}
	if stopSig != 0 {
		return 128 + int(stopSig)
	}
	return child.ExitCode()
}

func newLogger(e env, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("--log-level must be debug, info, warn or error, not %q", level)
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: l})), nil
}
