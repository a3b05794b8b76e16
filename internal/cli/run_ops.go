package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/tollgate-mcp/tollgate/internal/audit"
	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/metrics"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/redact"
	"github.com/tollgate-mcp/tollgate/internal/reload"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// opsFlags are tollgate run's flags for operating it: the audit trail,
// metrics and live policy reload.
type opsFlags struct {
	audit        string
	auditMaxSize string
	metricsAddr  string
	watch        bool
}

func (f *opsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.audit, "audit", "", "audit trail directory, or off (default <state-dir>/audit)")
	fs.StringVar(&f.auditMaxSize, "audit-max-size", "64MiB", "rotate an audit file when it reaches this size (bytes, or with KiB, MiB, GiB, KB, MB, GB)")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9464 (default off)")
	fs.BoolVar(&f.watch, "watch", true, "apply changes to the policy file without a restart")
}

// parseSize reads a byte size such as 64MiB, 10MB or 1048576.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size such as 64MiB", s)
	}
	return n * mult, nil
}

// auditDir returns the audit directory the flags name, "" for off.
func auditDir(f *opsFlags, stateDir string) (string, error) {
	switch f.audit {
	case "off":
		return "", nil
	case "":
		dir := stateDir
		if dir == "" {
			var err error
			if dir, err = state.DefaultDir(); err != nil {
				return "", err
			}
		}
		return filepath.Join(dir, "audit"), nil
	}
	return f.audit, nil
}

// errAuditRequired is the error for a policy with audit.required in a
// process that keeps no audit trail.
var errAuditRequired = errors.New("the policy sets audit.required (refuse calls the audit trail cannot record), but the audit trail is off (--audit off): give --audit a directory, or drop audit.required")

// fanout tells every recorder each event.
type fanout []event.Recorder

func (rs fanout) Record(ev event.Event) {
	for _, r := range rs {
		r.Record(ev)
	}
}

func (rs fanout) Forwarded(ev event.Event) {
	for _, r := range rs {
		if fr, ok := r.(event.ForwardRecorder); ok {
			fr.Forwarded(ev)
		}
	}
}

var _ event.ForwardRecorder = fanout(nil)

// setupOps opens the audit trail, starts the metrics server and the policy
// watcher, and makes the gate tell the audit trail and the metrics every
// decision (alongside any recorder it already has). stop stops the watcher
// and the metrics server, then writes the audit trail's stop line and
// closes it.
func setupOps(ctx context.Context, f *runFlags, pol *policy.Policy, g *gate.Gate, logger *slog.Logger) (stop func(), err error) {
	o := &f.ops
	var stops []func()
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	defer func() {
		if err != nil {
			stopAll() // what started before the error
		}
	}()
	var recs fanout
	if g.Recorder != nil {
		recs = append(recs, g.Recorder)
	}

	var alog *audit.Log
	dir, err := auditDir(o, f.stateDir)
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	if dir == "" && pol.AuditRequired() {
		return nil, errAuditRequired
	}
	if dir != "" {
		maxSize, err := parseSize(o.auditMaxSize)
		if err != nil {
			return nil, fmt.Errorf("--audit-max-size: %w", err)
		}
		alog, err = audit.Open(audit.Options{Dir: dir, MaxSize: maxSize, Logger: logger})
		if err != nil {
			return nil, err
		}
		if err := alog.SetConfig(pol.Audit()); err != nil {
			alog.Close()
			return nil, err
		}
		stops = append(stops, func() {
			if err := alog.Close(); err != nil {
				logger.Error("audit trail: lines were lost", "err", err)
			}
		})
		alog.Start(startInfo(f, pol))
		recs = append(recs, alog)
		g.AuditHealth = alog.Writable
		logger.Debug("audit trail", "dir", dir, "chain", alog.Chain(), "instance", alog.Instance())
	}

	var m *metrics.Metrics
	if o.metricsAddr != "" {
		mo := metrics.Options{}
		if alog != nil {
			mo.AuditDropped = func() int64 { return alog.Stats().Dropped }
			mo.AuditWriteErrors = func() int64 { return alog.Stats().WriteErrors }
		}
		m = metrics.New(mo)
		srv, err := metrics.Serve(o.metricsAddr, m.Handler(), logger)
		switch {
		case errors.Is(err, syscall.EADDRINUSE):
			// Most often a second copy of the same client configuration:
			// its MCP session matters more than its metrics.
			logger.Warn("metrics are not served: the address is in use (by another Tollgate started with the same flags?); serving MCP without them", "addr", o.metricsAddr, "err", err)
			m = nil
		case err != nil:
			return nil, err
		default:
			stops = append(stops, func() { srv.Close() })
			recs = append(recs, m)
			logger.Info("serving metrics", "url", "http://"+srv.Addr()+"/metrics")
		}
	}

	switch len(recs) {
	case 0:
	case 1:
		g.Recorder = recs[0]
	default:
		g.Recorder = recs
	}

	if o.watch {
		w, err := reload.Watch(ctx, reload.Options{
			Path:     f.config,
			Revision: pol.Revision(),
			Suffix:   f.policySuffix,
			Logger:   logger,
			Apply: func(p *policy.Policy) error {
				if p.Stateful() && g.Store == nil {
					return errors.New("the new policy has rate limits or state rules, but Tollgate started without a state store (the old policy had none); restart Tollgate to apply it")
				}
				if p.AuditRequired() && alog == nil {
					return errAuditRequired
				}
				if alog != nil {
					if err := alog.SetConfig(p.Audit()); err != nil {
						return err
					}
				}
				g.SetPolicy(p)
				return nil
			},
			Report: reportReload(alog, m),
		})
		if err != nil {
			return nil, err
		}
		stops = append(stops, func() { w.Close() })
	}
	return stopAll, nil
}

// reportReload tells the audit trail and the metrics (either may be nil)
// every attempt of a policy watcher, applied or not.
func reportReload(alog *audit.Log, m *metrics.Metrics) func(reload.Result) {
	return func(r reload.Result) {
		if m != nil {
			m.Reload(r.Outcome)
		}
		if alog != nil {
			rr := audit.ReloadResult{File: r.Path, Result: r.Outcome, Errors: r.Problems()}
			if r.Policy != nil {
				rr.Revision = r.Policy.Revision()
			}
			alog.Reload(rr)
		}
	}
}

// startInfo describes this process for the audit trail, without secrets:
// DSNs and URLs lose their user info and query, headers are not recorded.
func startInfo(f *runFlags, pol *policy.Policy) audit.StartInfo {
	host, _ := os.Hostname()
	mode := f.mode
	if pol.Mode() == policy.Monitor {
		mode = "monitor"
	}
	si := audit.StartInfo{Version: Version, PID: os.Getpid(), Host: host, Policy: f.config, Mode: mode,
		State: redact.URL(f.state), Identity: f.identity}
	if si.State == "" {
		si.State = "sqlite (default)"
		if !pol.Stateful() {
			si.State = "none"
		}
	}
	if f.upstream.url != "" {
		si.Server = redact.URL(f.upstream.url)
	}
	return si
}
