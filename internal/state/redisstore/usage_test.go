package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

func TestUsage(t *testing.T) {
	url := mcptest.Redis(t)
	storetest.RunUsage(t, func(t *testing.T) storetest.UsageLister { return open(t, url, "") })
}

// snapshot is every key under prefix: its serialized value and its TTL.
func snapshot(t *testing.T, rdb *redis.Client, prefix string) map[string]string {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "{"+prefix+"}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		v, err := rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("DUMP %s: %v", k, err)
		}
		out[k] = v
		out[k+" ttl"] = rdb.PTTL(ctx, k).Val().String()
	}
	return out
}

// TestUsageWritesNothing: asked long after the sliding events left their
// window (when Reserve or Peek would subtract them, and Reserve would trim
// them), Usage changes no key and extends no TTL.
func TestUsageWritesNothing(t *testing.T) {
	ctx := context.Background()
	url := mcptest.Redis(t)
	prefix := fmt.Sprintf("ro%d", prefixSeq.Add(1))
	s := open(t, url, prefix)
	defer s.Close()
	rdb := redis.NewClient(mustParse(t, url))
	defer rdb.Close()
	minute := storetest.Charge("calls", time.Minute, "1", "10")
	day := storetest.Charge("daily", 24*time.Hour, "3", "100")
	day.Align = state.Calendar
	for i := range 3 {
		r, err := s.Reserve(ctx, storetest.T0.Add(time.Duration(i)*time.Second), []state.Charge{minute, day})
		if err != nil || !r.Admitted {
			t.Fatalf("Reserve %d: %+v, %v", i, r, err)
		}
		if i == 1 {
			if err := s.Refund(ctx, r.Reservation); err != nil {
				t.Fatal(err)
			}
		}
	}
	// TTLs count down in Redis's own time: shorten them so that any later
	// extension shows.
	keys := rdb.Keys(ctx, "{"+prefix+"}:*").Val()
	for _, k := range keys {
		rdb.PExpire(ctx, k, time.Hour+time.Duration(len(k))*time.Millisecond)
	}
	rdb.Persist(ctx, keys[0]) // and one key with none
	before := snapshot(t, rdb, prefix)
	for _, now := range []time.Time{storetest.T0.Add(5 * time.Second), storetest.T0.Add(5 * time.Minute)} {
		us, err := s.Usage(ctx, now)
		if err != nil {
			t.Fatalf("Usage at %v: %v", now, err)
		}
		if len(us) == 0 {
			t.Fatalf("Usage at %v listed nothing", now)
		}
	}
	after := snapshot(t, rdb, prefix)
	for k, v := range before {
		w, ok := after[k]
		switch {
		case !ok:
			t.Errorf("key %s gone after Usage", k)
		case len(k) > 4 && k[len(k)-4:] == " ttl":
			b, _ := time.ParseDuration(v)
			a, _ := time.ParseDuration(w)
			if a > b || (b < 0) != (a < 0) {
				t.Errorf("%s: %v before Usage, %v after", k, b, a)
			}
		case v != w:
			t.Errorf("key %s changed by Usage", k)
		}
	}
	if len(after) != len(before) {
		t.Errorf("Usage left %d keys and TTLs, want %d", len(after), len(before))
	}
}

// TestUsageCounts: a calendar window counts its charges (a refunded one
// leaves it), free-form key parts holding the key's own separators and
// glob characters read back as they were written, and a prefix holding glob
// characters lists its own counters only, not another prefix's its pattern
// would match unquoted.
func TestUsageCounts(t *testing.T) {
	ctx := context.Background()
	url := mcptest.Redis(t)
	n := prefixSeq.Add(1)
	s := open(t, url, fmt.Sprintf("g[0-9]*?%d", n))
	defer s.Close()
	other := open(t, url, fmt.Sprintf("g5x%d", n))
	defer other.Close()
	day := storetest.Charge("daily@1", 24*time.Hour, "2.25", "100")
	day.Align = state.Calendar
	day.Key.Who = "identity:a@b:c/86400000000000/c/UTC@1*[z]\n"
	slide := storetest.Charge("calls", time.Minute, "1", "10")
	slide.Key.Who = day.Key.Who
	for i := range 3 {
		r, err := s.Reserve(ctx, storetest.T0, []state.Charge{day, slide, day})
		if err != nil || !r.Admitted {
			t.Fatalf("Reserve %d: %+v, %v", i, r, err)
		}
		if i == 0 {
			if err := s.Refund(ctx, r.Reservation); err != nil {
				t.Fatal(err)
			}
		}
	}
	if r, err := other.Reserve(ctx, storetest.T0, []state.Charge{storetest.Charge("calls", time.Minute, "1", "10")}); err != nil || !r.Admitted {
		t.Fatalf("Reserve on the other prefix: %+v, %v", r, err)
	}
	us, err := s.Usage(ctx, storetest.T0)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Key     state.Key
		Align   state.Align
		Used    string
		Charges int
	}
	var got []row
	for _, u := range us {
		got = append(got, row{u.Key, u.Align, u.Used.String(), u.Charges})
	}
	want := []row{
		{slide.Key, state.Sliding, "2", 2},
		{day.Key, state.Calendar, "9", 4},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Usage (-want +got):\n%s", diff)
	}
}

// TestUsageCap: an agent that makes a counter per session cannot make one
// listing read without end: past the cap it lists that many and says so.
func TestUsageCap(t *testing.T) {
	ctx := context.Background()
	url := mcptest.Redis(t)
	s := open(t, url, "")
	defer s.Close()
	for i := range 7 {
		c := storetest.Charge("calls", time.Minute, "1", "10")
		c.Key.Who = fmt.Sprintf("session:%d", i)
		if r, err := s.Reserve(ctx, storetest.T0, []state.Charge{c}); err != nil || !r.Admitted {
			t.Fatalf("Reserve %d: %+v, %v", i, r, err)
		}
	}
	for _, tc := range []struct {
		limit, want int
		truncated   bool
	}{{5, 5, true}, {7, 7, false}, {100, 7, false}} {
		us, err := redisstore.UsageUpTo(s, ctx, storetest.T0, tc.limit)
		if len(us) != tc.want || errors.Is(err, redisstore.ErrUsageTruncated) != tc.truncated {
			t.Errorf("Usage up to %d: %d counters, %v; want %d, truncated %v", tc.limit, len(us), err, tc.want, tc.truncated)
		}
		if err != nil && !tc.truncated {
			t.Errorf("Usage up to %d: %v", tc.limit, err)
		}
	}
}
