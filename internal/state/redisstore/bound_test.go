package redisstore_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// inspector reads one prefix's keys and the server's command counts behind
// a store's back.
type inspector struct {
	t      *testing.T
	rdb    *redis.Client
	prefix string
}

func inspect(t *testing.T, url, prefix string) *inspector {
	t.Helper()
	rdb := redis.NewClient(mustParse(t, url))
	t.Cleanup(func() { rdb.Close() })
	return &inspector{t: t, rdb: rdb, prefix: prefix}
}

// key is the one key of the given kind ("z", "t", "o") under the prefix.
func (in *inspector) key(kind string) string {
	in.t.Helper()
	keys, err := in.rdb.Keys(context.Background(), "{"+in.prefix+"}:"+kind+":*").Result()
	if err != nil || len(keys) != 1 {
		in.t.Fatalf("keys of kind %s: %q, %v; want one", kind, keys, err)
	}
	return keys[0]
}

// bound is the stored bound, in µs after T0.
func (in *inspector) bound() time.Duration {
	in.t.Helper()
	v, err := in.rdb.Get(context.Background(), in.key("o")).Result()
	if err != nil {
		in.t.Fatalf("bound: %v", err)
	}
	us, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		in.t.Fatalf("bound %q: %v", v, err)
	}
	return time.Duration(us-storetest.T0.UnixMicro()) * time.Microsecond
}

// calls counts the commands of the given names the server ran (scripts'
// included) since the last reset.
func (in *inspector) calls(names ...string) int {
	in.t.Helper()
	info, err := in.rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		in.t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(info, "\n") {
		for _, name := range names {
			if rest, ok := strings.CutPrefix(line, "cmdstat_"+name+":calls="); ok {
				c, _ := strconv.Atoi(rest[:strings.IndexByte(rest+",", ',')])
				n += c
			}
		}
	}
	return n
}

func (in *inspector) del(kinds ...string) {
	in.t.Helper()
	for _, kind := range kinds {
		if err := in.rdb.Del(context.Background(), in.key(kind)).Err(); err != nil {
			in.t.Fatal(err)
		}
	}
}

// reserve reserves one charge at T0+at and checks the counter's total after
// it.
func reserve(t *testing.T, s *redisstore.Store, at time.Duration, c state.Charge, want string) state.Result {
	t.Helper()
	r, err := s.Reserve(context.Background(), storetest.T0.Add(at), []state.Charge{c})
	if err != nil || !r.Admitted {
		t.Fatalf("Reserve at T0+%v: %+v, %v", at, r, err)
	}
	if w := storetest.Dec(want); r.Totals[0].Cmp(&w) != 0 {
		t.Errorf("total after Reserve at T0+%v = %s, want %s", at, &r.Totals[0], want)
	}
	return r
}

// admit is reserve, then checks that Peek agrees.
func admit(t *testing.T, s *redisstore.Store, at time.Duration, c state.Charge, want string) state.Result {
	t.Helper()
	r := reserve(t, s, at, c, want)
	got, err := s.Peek(context.Background(), storetest.T0.Add(at), c.Key, c.Window, c.Align, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := storetest.Dec(want); got.Cmp(&w) != 0 {
		t.Errorf("Peek at T0+%v = %s, want %s", at, &got, want)
	}
	return r
}

// TestBoundSkipsTheSet: while the bound is after the cutoff an admitted
// charge never reads or trims the sorted set; once an event has left, the
// set is trimmed exactly and the bound moves to the oldest event left.
func TestBoundSkipsTheSet(t *testing.T) {
	srv := startRedis(t) // a server of its own: the command counts are global
	prefix := "bound"
	s := open(t, srv.URL, prefix)
	defer s.Close()
	in := inspect(t, srv.URL, prefix)
	c := storetest.Charge("calls", time.Minute, "1", "100")
	reads := []string{"zrange", "zrangebyscore", "zremrangebyscore", "zremrangebyrank", "zcard", "zcount"}

	reserve(t, s, 0, c, "1")
	reserve(t, s, 10*time.Second, c, "2")
	reserve(t, s, 20*time.Second, c, "3")
	if n := in.calls(reads...); n != 0 {
		t.Errorf("%d reads of the set while nothing could have left, want 0", n)
	}
	if b := in.bound(); b != 0 {
		t.Errorf("bound = T0+%v, want T0", b)
	}
	// The event at T0 has left at T0+65s.
	reserve(t, s, 65*time.Second, c, "3")
	if n := in.calls("zremrangebyscore"); n != 1 {
		t.Errorf("%d trims after an event left, want 1", n)
	}
	if b := in.bound(); b != 10*time.Second {
		t.Errorf("bound after the trim = T0+%v, want T0+10s", b)
	}
	before := in.calls(reads...)
	reserve(t, s, 69*time.Second, c, "4")
	if n := in.calls(reads...) - before; n != 0 {
		t.Errorf("%d reads of the set after the trim moved the bound, want 0", n)
	}
}

// TestManyEventsLeaveAtOnce: however many events left since the last call
// (fewer than, as many as, or more than the script first looks at), the
// total loses exactly their amounts, also after a refund from another
// process took one out (which leaves the bound earlier than the oldest
// event: allowed).
func TestManyEventsLeaveAtOnce(t *testing.T) {
	url := redisURL(t)
	for _, left := range []int{0, 1, 3, 4, 7, 8, 9, 12} {
		t.Run(fmt.Sprint(left), func(t *testing.T) {
			prefix := fmt.Sprintf("leave%d", prefixSeq.Add(1))
			a, b := open(t, url, prefix), open(t, url, prefix)
			defer a.Close()
			defer b.Close()
			c := storetest.Charge("spend", time.Minute, "0", "1000")
			cents, sum := 0, 0 // of every event, of those still in the window
			for i := range 12 {
				amount := (i + 1) * 101 // 1.01, 2.02, ...
				c.Amount = storetest.Dec(fmt.Sprintf("%d.%02d", amount/100, amount%100))
				cents += amount
				r := admit(t, a, time.Duration(i)*time.Millisecond, c, fmt.Sprintf("%d.%02d", cents/100, cents%100))
				if i == 3 {
					if err := b.Refund(context.Background(), r.Reservation); err != nil {
						t.Fatal(err)
					}
					cents -= amount
					continue
				}
				if i >= left {
					sum += amount
				}
			}
			// Events at or before the cutoff have left: those at T0 + 0 to
			// left-1 ms.
			c.Amount = storetest.Dec("0.50")
			sum += 50
			at := time.Minute + time.Duration(left)*time.Millisecond - 500*time.Microsecond
			admit(t, a, at, c, fmt.Sprintf("%d.%02d", sum/100, sum%100))
		})
	}
}

// TestLostTotalOrBound: a counter whose total, bound or both are gone (lost,
// or written before bounds existed) is counted again from its set, and gets
// them back.
func TestLostTotalOrBound(t *testing.T) {
	url := redisURL(t)
	for _, lost := range [][]string{{"t"}, {"o"}, {"t", "o"}} {
		t.Run(strings.Join(lost, "+"), func(t *testing.T) {
			prefix := fmt.Sprintf("lost%d", prefixSeq.Add(1))
			s := open(t, url, prefix)
			defer s.Close()
			in := inspect(t, url, prefix)
			c := storetest.Charge("spend", time.Minute, "0.25", "100")
			admit(t, s, 0, c, "0.25")
			admit(t, s, 10*time.Second, c, "0.50")
			admit(t, s, 20*time.Second, c, "0.75")
			in.del(lost...)
			// T0's event has left.
			admit(t, s, 65*time.Second, c, "0.75")
			if b := in.bound(); b != 10*time.Second {
				t.Errorf("bound = T0+%v, want T0+10s", b)
			}
			admit(t, s, 66*time.Second, c, "1.00")
		})
	}
}

// TestBoundFollowsAnEarlierClock: an event stamped earlier than the bound
// (a caller whose clock lags) moves the bound back, so it still leaves on
// time.
func TestBoundFollowsAnEarlierClock(t *testing.T) {
	url := redisURL(t)
	prefix := fmt.Sprintf("early%d", prefixSeq.Add(1))
	s := open(t, url, prefix)
	defer s.Close()
	in := inspect(t, url, prefix)
	c := storetest.Charge("calls", time.Minute, "1", "100")
	admit(t, s, 5*time.Second, c, "1")
	admit(t, s, 0, c, "2")
	if b := in.bound(); b != 0 {
		t.Errorf("bound = T0+%v, want T0", b)
	}
	admit(t, s, time.Minute+time.Millisecond, c, "2")
}

// TestDenialMovesTheBound: a denial that trims keeps the new bound, with the
// bound's TTL.
func TestDenialMovesTheBound(t *testing.T) {
	url := redisURL(t)
	prefix := fmt.Sprintf("deny%d", prefixSeq.Add(1))
	s := open(t, url, prefix)
	defer s.Close()
	in := inspect(t, url, prefix)
	c := storetest.Charge("calls", time.Minute, "1", "2")
	admit(t, s, 0, c, "1")
	admit(t, s, 10*time.Second, c, "2")
	ttl := in.rdb.PTTL(context.Background(), in.key("o")).Val()
	// T0's event has left, but two more do not fit.
	two := []state.Charge{c, c}
	r, err := s.Reserve(context.Background(), storetest.T0.Add(61*time.Second), two)
	if err != nil || r.Admitted {
		t.Fatalf("Reserve of two: %+v, %v; want denied", r, err)
	}
	if b := in.bound(); b != 10*time.Second {
		t.Errorf("bound after the denial = T0+%v, want T0+10s", b)
	}
	if got := in.rdb.PTTL(context.Background(), in.key("o")).Val(); got > ttl {
		t.Errorf("bound's TTL grew from %v to %v on a denial", ttl, got)
	}
	admit(t, s, 62*time.Second, c, "2")
}
