package redisstore_test

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/internal/ledger"
	"github.com/tollgate-mcp/tollgate/internal/state/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// reserveV1 is the reserve script of the previous release, as it shipped:
// during a rolling upgrade, processes running it share counters with this
// version.
//
//go:embed testdata/reserve-v1.lua
var reserveV1 string

// v1 reserves the way the previous release did: its script, its ARGV.
type v1 struct {
	rdb    *redis.Client
	prefix string
	script *redis.Script
	seq    int
}

func (o *v1) reserve(t *testing.T, now time.Time, charges ...state.Charge) bool {
	t.Helper()
	o.seq++
	nowUs := now.UnixMicro()
	var keys []string
	args := []any{nowUs, "v1-" + strconv.Itoa(o.seq), len(charges)}
	for i := range charges {
		ch := &charges[i]
		id := string(ledger.AppendID(nil, ch))
		amount, err := redisstore.ToUnits(&ch.Amount)
		if err != nil {
			t.Fatal(err)
		}
		limit, err := redisstore.ToUnits(&ch.Limit)
		if err != nil {
			t.Fatal(err)
		}
		kind, ttl, end := "s", ch.Window+time.Minute, int64(0)
		if ch.Align == state.Calendar {
			start, e := state.CalendarBounds(now, ch.Window, ch.Location)
			at := "@" + strconv.FormatInt(start.UnixMicro(), 10)
			keys = append(keys, o.prefix+"b:"+id+at, o.prefix+"n:"+id+at)
			kind, ttl, end = "c", e.Sub(now)+time.Minute, e.UnixMicro()
		} else {
			keys = append(keys, o.prefix+"z:"+id, o.prefix+"t:"+id)
		}
		args = append(args, kind, ch.Window.Microseconds(), nowUs-ch.Window.Microseconds(), amount, limit, "0", ttl.Milliseconds()+1, end)
	}
	vals, err := o.script.Run(context.Background(), o.rdb, keys, args...).Slice()
	if err != nil {
		t.Fatalf("previous version's reserve: %v", err)
	}
	return vals[0].(int64) == 1
}

// TestSharesCountersWithPreviousVersion: during a rolling upgrade, a
// gateway still running the previous release and one running this one
// enforce one limit together: each sees the other's charges, trims the
// other's expired events, and counts the other's calendar charges.
func TestSharesCountersWithPreviousVersion(t *testing.T) {
	ctx := context.Background()
	url := redisURL(t)
	prefix := fmt.Sprintf("compat%d", prefixSeq.Add(1))
	s := open(t, url, prefix)
	defer s.Close()
	rdb := redis.NewClient(mustParse(t, url))
	defer rdb.Close()
	old := &v1{rdb: rdb, prefix: "{" + prefix + "}:", script: redis.NewScript(redisstore.LuaDecimal + reserveV1)}

	rate := storetest.Charge("calls", time.Minute, "1", "10")
	rate.KeepOnRefund = true
	day := storetest.Charge("daily", 24*time.Hour, "2.5", "1000")
	day.Align = state.Calendar
	admitted := 0
	for i := range 20 {
		now := storetest.T0.Add(time.Duration(i) * 100 * time.Millisecond)
		var ok bool
		if i%2 == 0 {
			r, err := s.Reserve(ctx, now, []state.Charge{rate, day})
			if err != nil {
				t.Fatal(err)
			}
			ok = r.Admitted
		} else {
			ok = old.reserve(t, now, rate, day)
		}
		if ok {
			admitted++
		}
	}
	if admitted != 10 {
		t.Fatalf("the two versions admitted %d calls together, want 10", admitted)
	}
	now := storetest.T0.Add(2 * time.Second)
	for _, c := range []struct {
		ch   state.Charge
		want string
	}{{rate, "10"}, {day, "25"}} {
		got, err := s.Peek(ctx, now, c.ch.Key, c.ch.Window, c.ch.Align, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := storetest.Dec(c.want); got.Cmp(&want) != 0 {
			t.Errorf("%s = %s, want %s", c.ch.Key.Counter, &got, c.want)
		}
	}
	us, err := s.Usage(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range us {
		if u.Key.Counter == "daily" && u.Charges != 10 {
			t.Errorf("daily counts %d charges, want 10 (5 from each version)", u.Charges)
		}
	}

	// A minute later every admitted event (at 0–0.9s) has left: the old
	// script trims the new one's events and the new store the old one's.
	later := storetest.T0.Add(time.Minute + 950*time.Millisecond)
	if !old.reserve(t, later, rate, day) {
		t.Fatal("previous version denied after the window passed")
	}
	r, err := s.Reserve(ctx, later, []state.Charge{rate, day})
	if err != nil || !r.Admitted {
		t.Fatalf("Reserve after the window passed: %+v, %v", r, err)
	}
	got, err := s.Peek(ctx, later, rate.Key, rate.Window, rate.Align, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := storetest.Dec("2"); got.Cmp(&want) != 0 {
		t.Errorf("calls after the window passed = %s, want 2", &got)
	}
	for range 8 {
		if !old.reserve(t, later, rate) {
			t.Fatal("previous version denied below the limit")
		}
	}
	if r, err := s.Reserve(ctx, later, []state.Charge{rate}); err != nil || r.Admitted {
		t.Errorf("Reserve past the limit both versions filled: %+v, %v; want denied", r, err)
	}
}

// TestEveryKeyExpires: whatever a call leaves (sliding set and total,
// calendar total and charge count, refund marker) has a TTL, including a
// calendar count that later calls only increment.
func TestEveryKeyExpires(t *testing.T) {
	ctx := context.Background()
	url := redisURL(t)
	prefix := fmt.Sprintf("ttl%d", prefixSeq.Add(1))
	s := open(t, url, prefix)
	defer s.Close()
	rdb := redis.NewClient(mustParse(t, url))
	defer rdb.Close()
	rate := storetest.Charge("calls", time.Minute, "1", "100")
	day := storetest.Charge("daily", 24*time.Hour, "1", "100")
	day.Align = state.Calendar
	for i := range 3 {
		r, err := s.Reserve(ctx, storetest.T0.Add(time.Duration(i)*time.Second), []state.Charge{rate, day, day})
		if err != nil || !r.Admitted {
			t.Fatalf("Reserve %d: %+v, %v", i, r, err)
		}
		if i == 1 {
			if err := s.Refund(ctx, r.Reservation); err != nil {
				t.Fatal(err)
			}
		}
	}
	keys, err := rdb.Keys(ctx, "{"+prefix+"}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 5 {
		t.Errorf("keys = %q, want a set, a total, a calendar total and count, a refund marker", keys)
	}
	// No key outlives the longest window (the day) and its grace.
	longest := 24*time.Hour + 2*time.Minute
	for _, k := range keys {
		if ttl := rdb.PTTL(ctx, k).Val(); ttl <= 0 || ttl > longest {
			t.Errorf("%s has TTL %v, want one in (0, %v]", k, ttl, longest)
		}
	}
}
