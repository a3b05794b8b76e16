package gateway_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/tollgate-mcp/tollgate/internal/otel/oteltest"
)

// With --otlp-endpoint, a call is traced by its server's gate (under the
// server's own name) and, when the file has a gateway-wide policy, by the
// gateway-wide gate too (under the namespaced name), the server gate's
// spans inside the gateway's trace: its SERVER span is the child of the
// gateway-wide gate's forwarded (CLIENT) span.
func TestGatewayTracesEachServersGate(t *testing.T) {
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	t.Setenv("OTEL_SDK_DISABLED", "")
	t.Setenv("OTEL_TRACES_EXPORTER", "")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, hub string
		spans     int
	}{
		{"server gate only", "", 3},
		{"under a gateway-wide policy", "policy:\n  version: \"1\"\n", 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			col := oteltest.NewCollector(t)
			config := writeFile(t, t.TempDir(), "gateway.yaml", tc.hub+`servers:
  mine:
    command: `+yamlList([]string{self, "-test.run=^$"})+`
    env:
      `+envTestServer+`: "1"
`)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			gc := connect(t, ctx, config, "--otlp-endpoint", col.URL)
			if text, isErr := callText(t, ctx, gc.cs, "mine__echo", map[string]any{"message": "hi"}); isErr {
				t.Fatalf("mine__echo: %s", text)
			}
			spans := col.WaitSpans(t, tc.spans, 15*time.Second)
			byName := map[string][]ptrace.Span{}
			for _, s := range spans {
				k := s.Name() + "/" + s.Kind().String()
				byName[k] = append(byName[k], s)
			}
			counts := map[string]int{}
			for k, v := range byName {
				counts[k] = len(v)
			}
			want := map[string]int{"tools/call echo/Server": 1, "tools/call echo/Client": 1, "tollgate.decide/Internal": 1}
			if tc.hub != "" {
				want = map[string]int{"tools/call echo/Server": 1, "tools/call echo/Client": 1, "tollgate.decide/Internal": 2,
					"tools/call mine__echo/Server": 1, "tools/call mine__echo/Client": 1}
			}
			if fmt.Sprint(counts) != fmt.Sprint(want) {
				t.Fatalf("spans %v, want %v", counts, want)
			}
			own := byName["tools/call echo/Server"][0]
			if tc.hub == "" {
				if !own.ParentSpanID().IsEmpty() {
					t.Errorf("the server gate's span has parent %s, want a root span", own.ParentSpanID())
				}
				return
			}
			hubClient := byName["tools/call mine__echo/Client"][0]
			if own.ParentSpanID() != hubClient.SpanID() || own.TraceID() != hubClient.TraceID() {
				t.Errorf("the server gate's span has parent %s in trace %s, want the gateway's forwarded span %s in %s",
					own.ParentSpanID(), own.TraceID(), hubClient.SpanID(), hubClient.TraceID())
			}
		})
	}
}
