package cli

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/otel"
)

// traceFlags configure OpenTelemetry tracing (docs/tracing.md): the flag,
// or the standard OTEL_* environment variables.
type traceFlags struct {
	endpoint string
	// lookup reads the environment; nil means os.LookupEnv.
	lookup func(string) (string, bool)
}

func (t *traceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.endpoint, "otlp-endpoint", "", "export a trace of each tools/call to this OTLP/HTTP collector (http://host:4318); the OTEL_* variables also configure it (docs/tracing.md)")
}

// traceShutdown bounds how long spans still queued at exit are sent for.
const traceShutdown = 5 * time.Second

// start returns the tracer the configuration asks for (nil when tracing
// is off) and the function that flushes and stops its exporter.
func (t *traceFlags) start(logger *slog.Logger) (tr *otel.Tracer, stop func(), err error) {
	lookup := t.lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	cfg, on, err := otel.FromEnv(lookup, t.endpoint)
	if err != nil || !on {
		return nil, func() {}, err
	}
	exp := otel.NewExporter(cfg, logger)
	logger.Debug("tracing: exporting spans", "endpoint", cfg.Endpoint)
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), traceShutdown)
		defer cancel()
		if err := exp.Shutdown(ctx); err != nil {
			logger.Warn("tracing: spans still queued were not all sent", "err", err)
		}
		if st := exp.Stats(); st.Dropped > 0 || st.Failed > 0 {
			logger.Warn("tracing: spans lost", "exported", st.Exported, "dropped", st.Dropped, "failed", st.Failed)
		}
	}
	tr = otel.NewTracer(exp, cfg.Sampler)
	tr.AttrLimit = cfg.AttrLimit
	return tr, stop, nil
}
