package otel

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		flag     string
		endpoint string // "" when off
		sampler  Sampler
	}{
		{name: "nothing configured", env: map[string]string{"OTEL_SERVICE_NAME": "x"}},
		{name: "base endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
			endpoint: "http://c:4318/v1/traces", sampler: AlwaysOn},
		{name: "base endpoint with a path", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c/otlp/"},
			endpoint: "https://c/otlp/v1/traces", sampler: AlwaysOn},
		{name: "traces endpoint as is", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b/custom"},
			endpoint: "http://b/custom", sampler: AlwaysOn},
		{name: "flag wins", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b/custom"}, flag: "http://f:4318",
			endpoint: "http://f:4318/v1/traces", sampler: AlwaysOn},
		{name: "flag with the traces path", flag: "http://f:4318/v1/traces", endpoint: "http://f:4318/v1/traces", sampler: AlwaysOn},
		{name: "disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true"}, flag: "http://f"},
		{name: "exporter none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}},
		{name: "ratio", env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25"}, flag: "http://f",
			endpoint: "http://f/v1/traces", sampler: Sampler{Ratio: 0.25, ParentBased: true}},
		{name: "always off", env: map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}, flag: "http://f",
			endpoint: "http://f/v1/traces", sampler: Sampler{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, on, err := FromEnv(lookup(tc.env), tc.flag)
			if err != nil {
				t.Fatal(err)
			}
			if on != (tc.endpoint != "") || cfg.Endpoint != tc.endpoint {
				t.Fatalf("on %v endpoint %q, want %q", on, cfg.Endpoint, tc.endpoint)
			}
			if on && cfg.Sampler != tc.sampler {
				t.Errorf("sampler %+v, want %+v", cfg.Sampler, tc.sampler)
			}
		})
	}
}

func TestFromEnvDetails(t *testing.T) {
	cfg, _, err := FromEnv(lookup(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":       "http://c:4318",
		"OTEL_EXPORTER_OTLP_HEADERS":        "a=1, b = two%2Cparts ",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "a=traces",
		"OTEL_EXPORTER_OTLP_TIMEOUT":        "2500",
		"OTEL_RESOURCE_ATTRIBUTES":          "service.name=from-attrs,deployment.environment=prod",
		"OTEL_BSP_MAX_QUEUE_SIZE":           "100",
		"OTEL_BSP_SCHEDULE_DELAY":           "200",
		"OTEL_EXPORTER_OTLP_PROTOCOL":       "http/protobuf",
	}), "")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "traces", "b": "two,parts"}, cfg.Headers); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if cfg.Timeout != 2500*time.Millisecond || cfg.QueueSize != 100 || cfg.Delay != 200*time.Millisecond {
		t.Errorf("timeout %v queue %d delay %v", cfg.Timeout, cfg.QueueSize, cfg.Delay)
	}
	res := map[string]any{}
	for _, a := range cfg.Resource {
		res[a.Key] = a.Value()
	}
	if res["service.name"] != "from-attrs" || res["deployment.environment"] != "prod" {
		t.Errorf("resource %v", res)
	}
}

func TestFromEnvRejects(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"grpc":          {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
		"bad sampler":   {"OTEL_TRACES_SAMPLER": "sometimes"},
		"bad ratio":     {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
		"bad header":    {"OTEL_EXPORTER_OTLP_HEADERS": "novalue"},
		"bad timeout":   {"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"},
		"bad exporter":  {"OTEL_TRACES_EXPORTER": "zipkin"},
		"bad endpoint":  {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "c:4318"},
		"bad queue":     {"OTEL_BSP_MAX_QUEUE_SIZE": "-1"},
		"ftp endpoint":  {"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://c"},
		"bad resources": {"OTEL_RESOURCE_ATTRIBUTES": "a"},
	} {
		env := env
		if _, ok := env["OTEL_EXPORTER_OTLP_ENDPOINT"]; !ok {
			if _, ok := env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]; !ok {
				env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://c:4318"
			}
		}
		if _, on, err := FromEnv(lookup(env), ""); !errors.Is(err, ErrConfig) || on {
			t.Errorf("%s: on %v, err %v", name, on, err)
		}
	}
}

// The ratio sampler agrees with itself (a trace id decides), and a parent's
// flag decides for a parent-based one.
func TestSampler(t *testing.T) {
	s := Sampler{Ratio: 0.5, ParentBased: true}
	n := 0
	for range 2000 {
		if s.sample(SpanContext{}, newTraceID()) {
			n++
		}
	}
	if n < 800 || n > 1200 {
		t.Errorf("ratio 0.5 sampled %d of 2000", n)
	}
	id := newTraceID()
	first := s.sample(SpanContext{}, id)
	for range 10 {
		if s.sample(SpanContext{}, id) != first {
			t.Fatal("same trace id, two decisions")
		}
	}
	parent := SpanContext{TraceID: id, SpanID: newSpanID(), Remote: true}
	if (Sampler{Ratio: 1, ParentBased: true}).sample(parent, id) {
		t.Error("parent-based sampled a trace its remote parent did not")
	}
	parent.Flags = FlagSampled
	if (Sampler{Ratio: 0, ParentBased: true}).sample(parent, id) != true {
		t.Error("parent-based dropped a trace its remote parent sampled")
	}
	if (Sampler{Ratio: 0}).sample(parent, id) {
		t.Error("always_off followed a remote parent")
	}
}

// A client's long strings (a tool name, a request id) are cut to the
// tracer's limit, and copied, before a span keeps them in the queue.
func TestAttrLimit(t *testing.T) {
	tr := NewTracer(nil, AlwaysOn)
	tr.AttrLimit = 8
	long := strings.Repeat("x", 1<<20)
	s := tr.Start(SpanContext{}, "tools/call "+long, KindServer, String("gen_ai.tool.name", long), Int("n", 1))
	s.SetAttr(String("jsonrpc.request.id", long))
	s.SetName("tools/call " + long)
	if len(s.name) != 8 || len(s.attrs[0].str) != 8 || len(s.attrs[2].str) != 8 || s.attrs[1].num != 1 {
		t.Errorf("name %q, attrs %+v", s.name, s.attrs)
	}
	if unsafe.StringData(s.attrs[0].str) == unsafe.StringData(long) {
		t.Error("a cut value still shares the client's string")
	}
	cfg, _, err := FromEnv(lookup(map[string]string{"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "64"}), "http://c")
	if err != nil || cfg.AttrLimit != 64 {
		t.Errorf("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: %d %v", cfg.AttrLimit, err)
	}
	if (&Tracer{}).limit() != DefaultAttrLimit {
		t.Error("no limit configured, no default")
	}
}
