package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/backend"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/gateway"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/procs"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// envCPUProfile names the file the in-process proxy writes its CPU profile
// to. It is read only here, never by the tollgate binary.
const envCPUProfile = "TOLLGATE_BENCH_CPUPROFILE"

// runProxy is `tollgate run` over stdio rebuilt from the same packages
// (policy, state store, gate, pump, stdio transport), so that a CPU profile
// of the proxy under load can be taken without touching the tollgate binary.
// It leaves out what the benchmarks do not exercise (approvals, audit,
// metrics, HTTP). With -gateway it is `tollgate gateway` over the one
// server instead, the same way.
func runProxy(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("benchcmd proxy", flag.ContinueOnError)
	config := fs.String("c", "", "policy file (required)")
	spec := fs.String("state", "", "counter store, as tollgate run --state")
	dir := fs.String("state-dir", "", "directory of the default SQLite store")
	prefix := fs.String("state-prefix", "", "Redis key prefix")
	_ = fs.String("log-level", "warn", "ignored (accepted as tollgate run does)")
	_ = fs.String("audit", "", "ignored: the in-process proxy keeps no audit trail")
	gw := fs.String("gateway", "", "serve the command as the one server of a gateway, under this prefix (as tollgate gateway does)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *config == "" || fs.NArg() == 0 {
		return errors.New("usage: benchcmd proxy -c POLICY [--state S] [--state-dir D] -- CMD [ARGS...]")
	}
	if path := os.Getenv(envCPUProfile); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	// One processor, as tollgate run serving one stdio session chooses,
	// so that a profile shows what the binary does (GOMAXPROCS chooses).
	if os.Getenv("GOMAXPROCS") == "" {
		procs.Limit(runtime.GOMAXPROCS, 1)
	}
	pol, err := policy.LoadFile(*config)
	if err != nil {
		return err
	}
	g := gate.New(pol)
	if pol.Stateful() || *spec != "" {
		b, err := backend.Open(ctx, *spec, backend.Options{StateDir: *dir, Prefix: *prefix})
		if err != nil {
			return fmt.Errorf("open the state store: %w", err)
		}
		defer b.Close()
		if g.Store, err = b.Counters(ctx); err != nil {
			return fmt.Errorf("open the state store: %w", err)
		}
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	g.Logger = logger
	front := stdio.NewConn(os.Stdin, os.Stdout, jsonrpc.DefaultMaxFrame)
	if *gw != "" {
		dial := transport.DialFunc(func(ctx context.Context, _ *transport.Session) (transport.Conn, func(), error) {
			child, err := stdio.StartChild(ctx, fs.Args(), stdio.ChildOptions{Stderr: os.Stderr, MaxFrame: jsonrpc.DefaultMaxFrame})
			if err != nil {
				return nil, nil, err
			}
			return child.Conn(), func() { child.Stop(2 * time.Second) }, nil
		})
		gwy, err := gateway.New([]*gateway.Server{{Name: *gw, Prefix: *gw, Gate: g, Dial: dial}}, gateway.Options{Logger: logger})
		if err != nil {
			return err
		}
		defer gwy.Close()
		if err := gwy.Serve(ctx, &transport.Session{ID: "bench"}, front, nil); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("gateway: %w", err)
		}
		return nil
	}
	child, err := stdio.StartChild(ctx, fs.Args(), stdio.ChildOptions{Stderr: os.Stderr, MaxFrame: jsonrpc.DefaultMaxFrame})
	if err != nil {
		return err
	}
	err = proxy.NewHandler(g, logger).Serve(ctx, &transport.Session{ID: "bench"}, front, child.Conn())
	child.Stop(2 * time.Second)
	if err != nil && !errors.Is(err, proxy.ErrUpstreamClosed) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("proxy: %w", err)
	}
	return nil
}
