package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"syscall"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/admin"
	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/approvalopen"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// adminFlags are tollgate run's flags for the admin API.
type adminFlags struct {
	addr        string
	allowRemote bool
}

func (f *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.addr, "admin-addr", "", "serve the admin API (approvals queue) on this host:port, e.g. 127.0.0.1:9111 (default off)")
	fs.BoolVar(&f.allowRemote, "admin-allow-remote", false, "let --admin-addr be a non-loopback address")
}

// setupApprovals gives the gate its approval store (made from the counters'
// backend: the same SQLite handle or Redis client and prefix), the policy's
// webhook, and, with --admin-addr, the admin API. The store is opened on
// first use unless the admin API needs it now. stop shuts the admin API
// down, lets webhook deliveries in flight finish (briefly), and closes the
// store and the backend, counters included; so does a failed setup.
func setupApprovals(ctx context.Context, f *runFlags, pol *policy.Policy, g *gate.Gate, logger *slog.Logger) (stop func(), err error) {
	if f.state == "memory" && f.admin.addr == "" {
		logger.Debug("approvals live in this process only (--state memory)")
	}
	open := func(ctx context.Context) (approval.Store, error) {
		b, err := f.backend(ctx)
		if err != nil {
			return nil, err
		}
		return b.Approvals(ctx)
	}
	var store approval.Store = approvalopen.NewLazy(open)
	if f.admin.addr != "" {
		if store, err = open(ctx); err != nil {
			f.closeBackend()
			return nil, fmt.Errorf("open the approval store: %w", err)
		}
	}
	a := &gate.Approvals{Store: store}
	cfg := pol.Approvals()
	var hook *approval.Webhook
	if cfg.WebhookURL != "" {
		hook = &approval.Webhook{URL: cfg.WebhookURL, Secret: []byte(cfg.WebhookSecret), Logger: logger}
		a.Notifier = hook
	}
	g.Approvals = a

	var stopAdmin func()
	if f.admin.addr != "" {
		stopAdmin, err = startAdmin(f, store, g, logger)
		if err != nil {
			store.Close()
			f.closeBackend()
			return nil, err
		}
	}
	return func() {
		if stopAdmin != nil {
			stopAdmin()
		}
		if hook != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			hook.Close(ctx)
			cancel()
		}
		store.Close()
		// The backend goes last: the counters, made from it too, are
		// closed with it (buildGate's Close of them afterwards is a no-op).
		f.closeBackend()
	}, nil
}

// startAdmin serves the admin API until stop is called.
func startAdmin(f *runFlags, store approval.Store, g *gate.Gate, logger *slog.Logger) (stop func(), err error) {
	dir := f.stateDir
	if dir == "" {
		if dir, err = state.DefaultDir(); err != nil {
			return nil, err
		}
	}
	token, err := admin.LoadOrCreateToken(dir)
	if err != nil {
		return nil, err
	}
	l, err := admin.Listen(f.admin.addr, f.admin.allowRemote)
	if errors.Is(err, syscall.EADDRINUSE) {
		// Most often a second copy of the same client configuration: its
		// MCP session matters more than a second admin API.
		logger.Warn("the admin API is not served: the address is in use (by another Tollgate started with the same flags?); serving MCP without it", "addr", f.admin.addr, "err", err)
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	srv := &admin.Server{Store: store, Token: token, Now: g.Now, OnDecision: g.RecordApproval, Logger: logger,
		Approvers: func() map[string]ed25519.PublicKey { return g.Policy().Approvals().Approvers }}
	if g.Pins != nil {
		srv.Pins, srv.OnPinApproved = g.Pins.Store(), g.PinApproved
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, l); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("admin API stopped", "err", err)
		}
	}()
	logger.Info("admin API listening", "addr", l.Addr().String(), "token_file", dir+"/"+admin.TokenFile)
	return func() { cancel(); <-done }, nil
}
