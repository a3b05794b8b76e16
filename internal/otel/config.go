package otel

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Config says where and how spans are exported.
type Config struct {
	// Endpoint is the full URL spans are posted to
	// (http://collector:4318/v1/traces).
	Endpoint string
	// Headers are sent with every export (an API key).
	Headers map[string]string
	// Resource describes this process (service.name and the rest).
	Resource []Attr
	Sampler  Sampler
	// AttrLimit is OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT (0: DefaultAttrLimit).
	AttrLimit int
	// Timeout bounds one export request.
	Timeout time.Duration
	// QueueSize spans wait at most; BatchSize go in one request; Delay is
	// the longest a span waits for its batch to fill.
	QueueSize, BatchSize int
	Delay                time.Duration
}

func (c *Config) defaults() {
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 2048
	}
	if c.BatchSize <= 0 || c.BatchSize > c.QueueSize {
		c.BatchSize = min(512, c.QueueSize)
	}
	if c.Delay <= 0 {
		c.Delay = 5 * time.Second
	}
}

// ErrConfig is wrapped by every error FromEnv returns.
var ErrConfig = errors.New("invalid tracing configuration")

// FromEnv reads the OpenTelemetry environment variables through lookup
// (os.LookupEnv) and endpoint, the --otlp-endpoint flag, which wins over
// them. enabled is false, and cfg empty, when no endpoint is configured,
// OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is none.
//
// Read: OTEL_EXPORTER_OTLP_ENDPOINT (a base URL: /v1/traces is appended),
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is), the HEADERS, TIMEOUT
// and PROTOCOL variables of both (TRACES_ first), OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG,
// OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE and
// OTEL_BSP_SCHEDULE_DELAY, and OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT (or its
// OTEL_SPAN_ form, which wins). The protocol must be http/json or http/protobuf
// (an OTLP/HTTP collector takes JSON at the same endpoint); grpc is refused.
func FromEnv(lookup func(string) (string, bool), endpoint string) (cfg Config, enabled bool, err error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return Config{}, false, nil
	}
	switch exp := get("OTEL_TRACES_EXPORTER"); {
	case strings.EqualFold(exp, "none"):
		return Config{}, false, nil
	case exp != "" && !strings.EqualFold(exp, "otlp"):
		return Config{}, false, fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%s: only otlp (or none) is supported", ErrConfig, exp)
	}
	switch {
	case endpoint != "":
		cfg.Endpoint, err = tracesURL(endpoint, true, "--otlp-endpoint")
	case get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		cfg.Endpoint, err = tracesURL(get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), false, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
	case get("OTEL_EXPORTER_OTLP_ENDPOINT") != "":
		cfg.Endpoint, err = tracesURL(get("OTEL_EXPORTER_OTLP_ENDPOINT"), true, "OTEL_EXPORTER_OTLP_ENDPOINT")
	default:
		return Config{}, false, nil
	}
	if err != nil {
		return Config{}, false, err
	}
	var errs []error
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := get(k); p != "" {
			if p != "http/json" && p != "http/protobuf" {
				errs = append(errs, fmt.Errorf("%w: %s=%s: Tollgate exports OTLP over HTTP (http/json); point it at the collector's HTTP port (4318)", ErrConfig, k, p))
			}
			break
		}
	}
	cfg.Headers = map[string]string{}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS"} {
		if err := parsePairs(get(k), func(name, value string) { cfg.Headers[name] = value }); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrConfig, k, err))
		}
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"} {
		if v := get(k); v != "" {
			ms, err := strconv.Atoi(v)
			if err != nil || ms <= 0 {
				errs = append(errs, fmt.Errorf("%w: %s=%s: want milliseconds", ErrConfig, k, v))
			}
			cfg.Timeout = time.Duration(ms) * time.Millisecond
			break
		}
	}
	ints := []struct {
		key string
		dst *int
	}{{"OTEL_BSP_MAX_QUEUE_SIZE", &cfg.QueueSize}, {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &cfg.BatchSize},
		{"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", &cfg.AttrLimit}, {"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", &cfg.AttrLimit}}
	for _, n := range ints {
		if v := get(n.key); v != "" {
			i, err := strconv.Atoi(v)
			if err != nil || i <= 0 || i > 1<<20 {
				errs = append(errs, fmt.Errorf("%w: %s=%s: want a positive number", ErrConfig, n.key, v))
			}
			*n.dst = i
		}
	}
	if v := get("OTEL_BSP_SCHEDULE_DELAY"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			errs = append(errs, fmt.Errorf("%w: OTEL_BSP_SCHEDULE_DELAY=%s: want milliseconds", ErrConfig, v))
		}
		cfg.Delay = time.Duration(ms) * time.Millisecond
	}
	service := "tollgate"
	var resource []Attr
	if err := parsePairs(get("OTEL_RESOURCE_ATTRIBUTES"), func(k, v string) {
		if k == "service.name" {
			service = v
			return
		}
		resource = append(resource, String(k, v))
	}); err != nil {
		errs = append(errs, fmt.Errorf("%w: OTEL_RESOURCE_ATTRIBUTES: %w", ErrConfig, err))
	}
	if s := get("OTEL_SERVICE_NAME"); s != "" {
		service = s
	}
	cfg.Resource = append([]Attr{String("service.name", service), String("telemetry.sdk.name", "tollgate"),
		String("telemetry.sdk.language", "go")}, resource...)
	cfg.Sampler, err = sampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG"))
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, false, err
	}
	return cfg, true, nil
}

// tracesURL checks an endpoint URL; a base one gets /v1/traces appended
// (after its own path, as the OTLP exporter specification asks), unless
// it already ends so.
func tracesURL(raw string, base bool, what string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: %s=%s: want an http:// or https:// URL", ErrConfig, what, raw)
	}
	if base && !strings.HasSuffix(u.Path, "/v1/traces") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

// parsePairs reads the W3C-baggage-like "k1=v1,k2=v2" lists of the OTel
// environment (values percent-decoded).
func parsePairs(s string, fn func(k, v string)) error {
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		k, v, ok := strings.Cut(item, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return fmt.Errorf("%q is not key=value", item)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("value of %q: %w", k, err)
		}
		fn(k, dv)
	}
	return nil
}

// sampler reads OTEL_TRACES_SAMPLER and its argument.
func sampler(name, arg string) (Sampler, error) {
	ratio := 1.0
	if strings.HasSuffix(name, "traceidratio") && arg != "" {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			return Sampler{}, fmt.Errorf("%w: OTEL_TRACES_SAMPLER_ARG=%s: want a ratio from 0 to 1", ErrConfig, arg)
		}
		ratio = r
	}
	switch name {
	case "", "parentbased_always_on":
		return AlwaysOn, nil
	case "always_on":
		return Sampler{Ratio: 1}, nil
	case "always_off":
		return Sampler{Ratio: 0}, nil
	case "parentbased_always_off":
		return Sampler{Ratio: 0, ParentBased: true}, nil
	case "traceidratio":
		return Sampler{Ratio: ratio}, nil
	case "parentbased_traceidratio":
		return Sampler{Ratio: ratio, ParentBased: true}, nil
	}
	return Sampler{}, fmt.Errorf("%w: OTEL_TRACES_SAMPLER=%s: want always_on, always_off, traceidratio or their parentbased_ forms", ErrConfig, name)
}
