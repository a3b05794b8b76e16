package cli

import (
	"context"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// TestConsoleUsageRedis: with --state redis://… the console lists the
// counters the proxies keep under --state-prefix, and only those.
func TestConsoleUsageRedis(t *testing.T) {
	ctx := context.Background()
	url := mcptest.Redis(t)
	s, err := redisstore.Open(ctx, url, redisstore.Options{Prefix: "fleet"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := storetest.Charge("calls", time.Minute, "1", "10")
	if r, err := s.Reserve(ctx, storetest.T0, []state.Charge{c}); err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	for _, tc := range []struct {
		prefix string
		want   int
	}{{"fleet", 1}, {"", 0}, {"other", 0}} {
		usage, note, closeUsage, err := consoleUsageReader(ctx, &stateFlags{state: url, prefix: tc.prefix})
		if err != nil {
			t.Fatalf("prefix %q: %v", tc.prefix, err)
		}
		if usage == nil || note != "" {
			t.Fatalf("prefix %q: no usage listing (note %q)", tc.prefix, note)
		}
		us, err := usage(ctx, storetest.T0)
		closeUsage()
		if err != nil || len(us) != tc.want {
			t.Errorf("prefix %q: %d counters, %v; want %d", tc.prefix, len(us), err, tc.want)
		}
		if tc.want == 1 && (us[0].Key != c.Key || us[0].Used.String() != "1") {
			t.Errorf("prefix %q: %+v, want %s using 1", tc.prefix, us[0], c.Key)
		}
	}
	if _, _, _, err := consoleUsageReader(ctx, &stateFlags{state: "redis://127.0.0.1:1/0"}); err == nil {
		t.Error("a Redis that does not answer gave a usage listing")
	}
}
