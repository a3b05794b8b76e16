package redisstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tollgate-mcp/tollgate/internal/decimal"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// server is a redis-server this test started.
type server struct {
	URL string
	cmd *exec.Cmd
}

// startRedis starts a private redis-server on a free loopback port and stops
// it when the test ends; it returns once the server says it is ready.
func startRedis(t testing.TB) *server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		mcptest.MissingPeer(t, "redis-server not installed: run scripts/test.sh or apt-get install redis-server")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), cmd: cmd}
	t.Cleanup(s.stop)
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && strings.Contains(sc.Text(), "Ready to accept connections") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("redis-server on port %d exited before it was ready", port)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("redis-server on port %d not ready after 10s", port)
	}
	return s
}

func (s *server) stop() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

var (
	sharedOnce sync.Once
	sharedURL  string
	prefixSeq  atomic.Int64
)

// redisURL is TOLLGATE_TEST_REDIS_URL, or a server started for this package
// (stopped by TestMain).
func redisURL(t testing.TB) string {
	if u := os.Getenv("TOLLGATE_TEST_REDIS_URL"); u != "" {
		return u
	}
	if sharedURL == "" {
		bin, err := exec.LookPath("redis-server")
		if err != nil || bin == "" {
			mcptest.MissingPeer(t, "redis-server not installed: run scripts/test.sh or apt-get install redis-server")
		}
	}
	sharedOnce.Do(func() {
		s := startRedis(sharedT)
		sharedURL = s.URL
	})
	if sharedURL == "" {
		t.Fatal("shared redis-server did not start")
	}
	return sharedURL
}

// sharedT owns the package-wide server; TestMain runs its cleanups.
var sharedT = &cleanupT{}

func TestMain(m *testing.M) {
	code := m.Run()
	sharedT.run()
	os.Exit(code)
}

// open returns a store on a fresh prefix, so tests never see each other's
// counters.
func open(t testing.TB, url, prefix string) *redisstore.Store {
	t.Helper()
	if prefix == "" {
		prefix = fmt.Sprintf("test%d-%d", os.Getpid(), prefixSeq.Add(1))
	}
	s, err := redisstore.Open(context.Background(), url, redisstore.Options{Prefix: prefix})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	url := redisURL(t)
	storetest.Run(t, func(t *testing.T) state.Store { return open(t, url, "") })
}

func TestTwoClientsShareOneLimit(t *testing.T) {
	url := redisURL(t)
	prefix := fmt.Sprintf("shared%d", prefixSeq.Add(1))
	a, b := open(t, url, prefix), open(t, url, prefix)
	defer a.Close()
	defer b.Close()
	c := storetest.Charge("calls", time.Hour, "1", "150")
	var admitted [2]atomic.Int64
	var wg sync.WaitGroup
	for i := range 200 {
		s, n := a, &admitted[0]
		if i%2 == 1 {
			s, n = b, &admitted[1]
		}
		wg.Go(func() {
			r, err := s.Reserve(context.Background(), storetest.T0, []state.Charge{c})
			if err != nil {
				t.Errorf("Reserve: %v", err)
				return
			}
			if r.Admitted {
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if got := admitted[0].Load() + admitted[1].Load(); got != 150 {
		t.Errorf("two clients admitted %d + %d = %d, want 150", admitted[0].Load(), admitted[1].Load(), got)
	}
	// A reservation made by one client is refunded by the other.
	c.Key.Counter = "handoff"
	c.Limit = storetest.Dec("1")
	r, err := a.Reserve(context.Background(), storetest.T0, []state.Charge{c})
	if err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	if err := b.Refund(context.Background(), r.Reservation); err != nil {
		t.Fatal(err)
	}
	if r, err := a.Reserve(context.Background(), storetest.T0, []state.Charge{c}); err != nil || !r.Admitted {
		t.Errorf("Reserve after the other client's refund: %+v, %v", r, err)
	}
}

// TestRefundFromAnotherClientKeepsKeptCharges: a refund applied by another
// client (another proxy of the fleet, or this one after a restart) gives back
// the refundable charge only, once.
func TestRefundFromAnotherClientKeepsKeptCharges(t *testing.T) {
	ctx := context.Background()
	url := redisURL(t)
	prefix := fmt.Sprintf("keep%d", prefixSeq.Add(1))
	a, b := open(t, url, prefix), open(t, url, prefix)
	defer a.Close()
	defer b.Close()
	rate, spend := storetest.KeepCharges()
	// The id spells out the keys: characters it uses as separators in a
	// key must not confuse the other client.
	spend.Key.Who = "identity:a|s:1:2:3|b"
	cal := spend
	cal.Key.Counter, cal.Align = "daily:|c:", state.Calendar
	r, err := a.Reserve(ctx, storetest.T0, []state.Charge{rate, spend, cal})
	if err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	for range 2 {
		if err := b.Refund(ctx, r.Reservation); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		ch   state.Charge
		want string
	}{{rate, "1"}, {spend, "0"}, {cal, "0"}} {
		got, err := a.Peek(ctx, storetest.T0, c.ch.Key, c.ch.Window, c.ch.Align, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := storetest.Dec(c.want); got.Cmp(&want) != 0 {
			t.Errorf("%s after another client's refund = %s, want %s", c.ch.Key.Counter, &got, c.want)
		}
	}
}

// TestFinishedCallsLeaveOnlyCounters: committing writes nothing and leaves
// no per-reservation key behind; a counter is its sorted set and its total,
// and the total never outlives the set (a denial that trims old events keeps
// the total's TTL).
func TestFinishedCallsLeaveOnlyCounters(t *testing.T) {
	ctx := context.Background()
	url := redisURL(t)
	prefix := fmt.Sprintf("keys%d", prefixSeq.Add(1))
	s := open(t, url, prefix)
	defer s.Close()
	rate, spend := storetest.KeepCharges()
	rate.Limit, spend.Limit = storetest.Dec("3"), storetest.Dec("10")
	now := storetest.T0
	for i := range 3 {
		r, err := s.Reserve(ctx, now.Add(time.Duration(i)*time.Second), []state.Charge{rate, spend})
		if err != nil || !r.Admitted {
			t.Fatalf("Reserve %d: %+v, %v", i, r, err)
		}
		if i == 1 {
			s.Refund(ctx, r.Reservation)
		} else {
			s.Commit(ctx, r.Reservation)
		}
	}
	// 60.5s later the first call has left (the second has not),
	// and the denial of two more trims it.
	if r, err := s.Reserve(ctx, now.Add(60500*time.Millisecond), []state.Charge{rate, rate}); err != nil || r.Admitted {
		t.Fatalf("Reserve of two: %+v, %v; want denied", r, err)
	}
	rdb := redis.NewClient(mustParse(t, url))
	defer rdb.Close()
	keys, err := rdb.Keys(ctx, "{"+prefix+"}:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, k := range keys {
		kinds[strings.SplitN(k, ":", 3)[1]]++
	}
	// z and t for the two counters, and the refund marker of call 2.
	if want := map[string]int{"z": 2, "t": 2, "x": 1}; fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("keys by kind = %v, want %v (%q)", kinds, want, keys)
	}
	for _, k := range keys {
		if kind := strings.SplitN(k, ":", 3)[1]; kind != "t" {
			continue
		}
		z := strings.Replace(k, ":t:", ":z:", 1)
		// The set first: read later, the total can only seem shorter-lived.
		zt := rdb.PTTL(ctx, z).Val()
		tt := rdb.PTTL(ctx, k).Val()
		if tt > zt {
			t.Errorf("total %s lives %v, longer than its set (%v)", k, tt, zt)
		}
	}
}

func mustParse(t *testing.T, url string) *redis.Options {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestStoppedRedisIsUnavailable(t *testing.T) {
	srv := startRedis(t)
	s, err := redisstore.Open(context.Background(), srv.URL, redisstore.Options{Timeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := storetest.Charge("calls", time.Minute, "1", "10")
	r, err := s.Reserve(context.Background(), storetest.T0, []state.Charge{c})
	if err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	srv.stop()
	start := time.Now()
	for _, op := range []struct {
		name string
		fn   func() error
	}{
		{"Reserve", func() error { _, err := s.Reserve(context.Background(), storetest.T0, []state.Charge{c}); return err }},
		{"Refund", func() error { return s.Refund(context.Background(), r.Reservation) }},
		{"Peek", func() error {
			_, err := s.Peek(context.Background(), storetest.T0, c.Key, c.Window, c.Align, nil)
			return err
		}},
	} {
		if err := op.fn(); !errors.Is(err, state.ErrUnavailable) {
			t.Errorf("%s with redis stopped: %v, want ErrUnavailable", op.name, err)
		}
	}
	// Commit writes nothing, so it cannot fail.
	if err := s.Commit(context.Background(), r.Reservation); err != nil {
		t.Errorf("Commit with redis stopped: %v, want nil (it writes nothing)", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("failing took %v; timeouts must bound it", d)
	}
	if _, err := redisstore.Open(context.Background(), srv.URL, redisstore.Options{Timeout: 200 * time.Millisecond}); !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("Open with redis stopped: %v, want ErrUnavailable", err)
	}
}

// TestClosedConnectionIsNotUsed: a pooled connection Redis closed (an
// idle timeout, CLIENT KILL, a restart) is found before a script is sent
// on it, and another is dialled: without retries (a lost reply may hide a
// script that ran), sending on it would fail the call. The check is
// go-redis's peek of the socket, through the store's own raw connections.
func TestClosedConnectionIsNotUsed(t *testing.T) {
	srv := startRedis(t)
	s := open(t, srv.URL, "")
	defer s.Close()
	c := storetest.Charge("calls", time.Minute, "1", "10")
	for i := range 3 {
		if r, err := s.Reserve(context.Background(), storetest.T0, []state.Charge{c}); err != nil || !r.Admitted {
			t.Fatalf("Reserve %d: %+v, %v", i, r, err)
		}
		opt, err := redis.ParseURL(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		admin := redis.NewClient(opt)
		killed, err := admin.ClientKillByFilter(context.Background(), "TYPE", "normal", "SKIPME", "yes").Result()
		admin.Close()
		if err != nil || killed == 0 {
			t.Fatalf("CLIENT KILL: %d killed, %v", killed, err)
		}
		// The server's close reaches the client's socket.
		time.Sleep(50 * time.Millisecond)
	}
	if r, err := s.Reserve(context.Background(), storetest.T0, []state.Charge{c}); err != nil || !r.Admitted {
		t.Fatalf("Reserve after the connection was killed: %+v, %v", r, err)
	}
}

func TestOpenRejects(t *testing.T) {
	for _, tc := range []struct{ url, prefix string }{
		{"http://localhost:6379", ""},
		{"redis://localhost:6379", "a{b}"},
	} {
		if _, err := redisstore.Open(context.Background(), tc.url, redisstore.Options{Prefix: tc.prefix}); err == nil {
			t.Errorf("Open(%q, prefix %q) succeeded", tc.url, tc.prefix)
		}
	}
}

func TestTooManyDecimalPlaces(t *testing.T) {
	s := open(t, redisURL(t), "")
	defer s.Close()
	c := storetest.Charge("calls", time.Minute, "0.0000000000000000001", "1")
	if _, err := s.Reserve(context.Background(), storetest.T0, []state.Charge{c}); !errors.Is(err, state.ErrInvalidCharge) {
		t.Errorf("Reserve with 19 decimal places: %v, want ErrInvalidCharge", err)
	}
}

func BenchmarkReserve(b *testing.B) {
	url := redisURL(b)
	storetest.Bench(b, func(b *testing.B) state.Store { return open(b, url, "") })
}

// cleanupT is the smallest testing.TB for the package-wide server, whose
// lifetime is TestMain's rather than one test's.
type cleanupT struct {
	testing.TB
	mu  sync.Mutex
	fns []func()
}

func (c *cleanupT) Helper() {}
func (c *cleanupT) TempDir() string {
	d, _ := os.MkdirTemp("", "redis")
	c.Cleanup(func() { os.RemoveAll(d) })
	return d
}
func (c *cleanupT) Cleanup(f func())          { c.mu.Lock(); c.fns = append(c.fns, f); c.mu.Unlock() }
func (c *cleanupT) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (c *cleanupT) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (c *cleanupT) Skip(args ...any)          { panic(fmt.Sprint(args...)) }
func (c *cleanupT) run() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
}

func TestToUnits(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0"}, {"0.00", "0"}, {"1", "1000000000000000000"}, {"0.01", "10000000000000000"},
		{"1.50", "1500000000000000000"}, {"10E+2", "1000000000000000000000"},
		{"0.000000000000000001", "1"}, {"0.0000000000000000010", "1"},
		{"12345678901234567.123456789", "12345678901234567123456789000000000"},
		{"123456789012345678901234567890", "123456789012345678901234567890000000000000000000"},
		{"1E+30", "1000000000000000000000000000000000000000000000000"},
	} {
		d := storetest.Dec(tc.in)
		got, err := redisstore.ToUnits(&d)
		if err != nil || got != tc.want {
			t.Errorf("toUnits(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"-1", "0.0000000000000000001", "1E+1000"} {
		d := storetest.Dec(bad)
		if _, err := redisstore.ToUnits(&d); err == nil {
			t.Errorf("toUnits(%s) succeeded", bad)
		}
	}
}

// TestFromUnits reads totals back exactly, reduced, on both paths.
func TestFromUnits(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "0"}, {"000", "0"}, {"1", "1E-18"}, {"10000000000000000", "0.01"},
		{"1000000000000000000", "1"}, {"5000000000000000000000", "5E+3"},
		{"1500000000000000000", "1.5"}, {"123456789012345678", "0.123456789012345678"},
		{"1234567890123456789", "1.234567890123456789"},
		{"12345678901234567123456789000000000", "12345678901234567.123456789"},
		{"99999999999999990000000000000000", "99999999999999.99"},
	} {
		var d decimal.Decimal
		if err := redisstore.FromUnits(&d, tc.in); err != nil {
			t.Errorf("fromUnits(%s): %v", tc.in, err)
			continue
		}
		want, err := decimal.Parse(tc.want)
		if err != nil {
			t.Fatal(err)
		}
		if d.Cmp(&want) != 0 || d.String() != want.String() {
			t.Errorf("fromUnits(%s) = %s, want %s", tc.in, &d, &want)
		}
	}
}

// BenchmarkRoundTrip is the floor under BenchmarkReserve/Serial: one
// EVALSHA of a script that does nothing, through a client with the store's
// options.
func BenchmarkRoundTrip(b *testing.B) {
	url := redisURL(b)
	o, err := redisstore.ClientOptions(url, 0)
	if err != nil {
		b.Fatal(err)
	}
	rdb := redis.NewClient(o)
	defer rdb.Close()
	ctx := context.Background()
	nop := redis.NewScript("return 1")
	if err := nop.Run(ctx, rdb, nil).Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := nop.Run(ctx, rdb, nil).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
