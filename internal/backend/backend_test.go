package backend

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	aprmem "github.com/tollgate-mcp/tollgate/internal/approval/memstore"
	aprredis "github.com/tollgate-mcp/tollgate/internal/approval/redisstore"
	aprsqlite "github.com/tollgate-mcp/tollgate/internal/approval/sqlitestore"
	aprtest "github.com/tollgate-mcp/tollgate/internal/approval/storetest"
	"github.com/tollgate-mcp/tollgate/internal/calls"
	"github.com/tollgate-mcp/tollgate/internal/calls/callstest"
	callmem "github.com/tollgate-mcp/tollgate/internal/calls/memstore"
	callredis "github.com/tollgate-mcp/tollgate/internal/calls/redisstore"
	callsqlite "github.com/tollgate-mcp/tollgate/internal/calls/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/state/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/stateopen"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// open opens spec and closes the backend when the test ends.
func open(t *testing.T, spec string, opts Options) *Backend {
	t.Helper()
	b, err := Open(t.Context(), spec, opts)
	if err != nil {
		t.Fatalf("Open(%q): %v", spec, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// both makes both stores of b.
func both(t *testing.T, b *Backend) (state.Store, approval.Store) {
	t.Helper()
	c, err := b.Counters(t.Context())
	if err != nil {
		t.Fatalf("Counters: %v", err)
	}
	a, err := b.Approvals(t.Context())
	if err != nil {
		t.Fatalf("Approvals: %v", err)
	}
	return c, a
}

// use makes one call on each store, so that each has taken what it takes of
// the handle.
func use(t *testing.T, c state.Store, a approval.Store) string {
	t.Helper()
	ctx := t.Context()
	r, err := c.Reserve(ctx, storetest.T0, []state.Charge{storetest.Charge("calls", time.Hour, "1", "10")})
	if err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	rec := approval.Record{ID: approval.NewID(), Fingerprint: "fp", Tool: "pay", Args: "{}", ArgsHash: "sha256:00",
		Rule: "big", Reason: "big", PolicyRev: "r", Session: "s", Identity: "i",
		CreatedAt: storetest.T0, ExpiresAt: storetest.T0.Add(time.Hour)}
	if _, err := a.Begin(ctx, approval.BeginRequest{New: rec, Now: storetest.T0}); err != nil {
		t.Fatalf("Begin: %v", err)
	}
	return rec.ID
}

func TestOpenKinds(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range []struct {
		spec string
		opts Options
		file string // SQLite file expected afterwards; "" for memory
	}{
		{spec: "", opts: Options{StateDir: filepath.Join(dir, "default")}, file: filepath.Join(dir, "default", "state.db")},
		{spec: "memory"},
		{spec: "sqlite://" + filepath.Join(dir, "abs.db"), file: filepath.Join(dir, "abs.db")},
		{spec: "sqlite://rel/state.db", file: filepath.Join(dir, "rel", "state.db")},
	} {
		b := open(t, tc.spec, tc.opts)
		c, a := both(t, b)
		if tc.file == "" {
			if _, ok := c.(*memstore.Store); !ok {
				t.Errorf("Open(%q) counters = %T, want a memstore", tc.spec, c)
			}
			if _, ok := a.(*aprmem.Store); !ok {
				t.Errorf("Open(%q) approvals = %T, want a memstore", tc.spec, a)
			}
			continue
		}
		if _, ok := c.(*sqlitestore.Store); !ok {
			t.Errorf("Open(%q) counters = %T", tc.spec, c)
		}
		if _, ok := a.(*aprsqlite.Store); !ok {
			t.Errorf("Open(%q) approvals = %T", tc.spec, a)
		}
		fi, err := os.Stat(tc.file)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.spec, err)
		} else if fi.Mode().Perm() != 0o600 {
			t.Errorf("Open(%q): %s has mode %v, want 0600", tc.spec, tc.file, fi.Mode().Perm())
		}
		// Counters and Approvals make their store once.
		c2, a2 := both(t, b)
		if c2 != c || a2 != a {
			t.Errorf("Open(%q): a second Counters or Approvals made a second store", tc.spec)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	for _, spec := range []string{"bolt:///x", "sqlite://", "sqlite://x.db?mode=ro", "sqlite://x.db#frag", "postgres://u:secret@h/db", "mem", "MEMORY", " memory"} {
		b, err := Open(t.Context(), spec, Options{StateDir: t.TempDir()})
		if err == nil {
			b.Close()
			t.Errorf("Open(%q) succeeded", spec)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error leaks the password: %v", spec, err)
		}
	}
}

// TestRedisErrorsHideThePassword: a Redis that is not there is reported
// as unavailable, without the password.
func TestRedisErrorsHideThePassword(t *testing.T) {
	url := mcptest.Redis(t)
	for _, spec := range []string{
		"redis://default:hunter2@127.0.0.1:1/0",
		"rediss://default:hunter2@127.0.0.1:1/0",
	} {
		b, err := Open(t.Context(), spec, Options{})
		if err == nil {
			b.Close()
			t.Errorf("Open(%s) succeeded", spec)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open error leaks the password: %v", err)
		}
		if !errors.Is(err, state.ErrUnavailable) {
			t.Errorf("Open(%s) = %v, want ErrUnavailable", spec, err)
		}
	}
	if _, err := Open(t.Context(), url, Options{Prefix: "a}b"}); err == nil {
		t.Error("a prefix with a brace was accepted")
	}
}

// TestOneSQLiteHandle: the counters and the approvals of one spec are made
// from one *sql.DB: its pool holds the counters' two connections and the
// approvals' one, every connection has the same pragmas, and Close closes
// them all.
func TestOneSQLiteHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	b := open(t, "sqlite://"+path, Options{})
	c, a := both(t, b)
	id := use(t, c, a)

	st := b.db.Stats()
	if st.MaxOpenConnections != sqliteConns || st.OpenConnections != 3 || st.InUse != 2 || st.Idle != 1 {
		t.Errorf("pool after one call of each store: %d open (%d in use, %d idle) of at most %d; want 3 (2 in use: the counters', 1 idle: the approvals') of %d",
			st.OpenConnections, st.InUse, st.Idle, st.MaxOpenConnections, sqliteConns)
	}
	// The idle connection is the one the approvals use: it has the
	// counters' settings.
	conn, err := b.db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "synchronous": "1", "wal_autocheckpoint": "0"} {
		var got string
		if err := conn.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s on the approvals' connection, want %s", pragma, got, want)
		}
	}
	conn.Close()
	if got := b.db.Stats().OpenConnections; got != 3 {
		t.Errorf("the pragma check opened a connection of its own: %d open", got)
	}
	// The approvals still work beside the counters (the pool does not run
	// dry), and what they wrote is in the one file.
	if _, err := a.Get(t.Context(), id, storetest.T0); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := b.db.Stats().OpenConnections; got != 0 {
		t.Errorf("after Close, %d connections are open", got)
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := c.Reserve(t.Context(), storetest.T0, []state.Charge{storetest.Charge("calls", time.Hour, "1", "10")}); !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("Reserve after Close = %v, want ErrUnavailable", err)
	}
	if _, err := a.Get(t.Context(), id, storetest.T0); !errors.Is(err, approval.ErrUnavailable) {
		t.Errorf("Get after Close = %v, want ErrUnavailable", err)
	}
	if _, err := b.Counters(t.Context()); err == nil {
		t.Error("Counters after Close succeeded")
	}
	if _, err := b.Approvals(t.Context()); err == nil {
		t.Error("Approvals after Close succeeded")
	}

	// A second backend on the file sees both stores' records.
	b2 := open(t, "sqlite://"+path, Options{})
	c2, a2 := both(t, b2)
	total, err := c2.Peek(t.Context(), storetest.T0, storetest.Charge("calls", time.Hour, "1", "10").Key, time.Hour, state.Sliding, nil)
	if err != nil || total.String() != "1" {
		t.Errorf("Peek through a second backend = %s, %v; want 1", total.String(), err)
	}
	if _, err := a2.Get(t.Context(), id, storetest.T0); err != nil {
		t.Errorf("Get through a second backend: %v", err)
	}
}

// TestStoreCloseKeepsTheHandle: closing one store (as a proxy closes its
// approvals before its counters) leaves the other working.
func TestStoreCloseKeepsTheHandle(t *testing.T) {
	for _, spec := range []string{"sqlite://" + filepath.Join(t.TempDir(), "state.db"), mcptest.Redis(t)} {
		b := open(t, spec, Options{})
		c, a := both(t, b)
		use(t, c, a)
		a.Close()
		if _, err := a.List(t.Context(), approval.Filter{}); !errors.Is(err, approval.ErrUnavailable) {
			t.Errorf("%s: List on a closed approval store = %v, want ErrUnavailable", spec, err)
		}
		r, err := c.Reserve(t.Context(), storetest.T0, []state.Charge{storetest.Charge("calls", time.Hour, "1", "10")})
		if err != nil || !r.Admitted {
			t.Errorf("%s: Reserve after the approvals closed: %+v, %v", spec, r, err)
		}
	}
}

// clients counts the connections the Redis at url has under name.
func clients(t *testing.T, url, name string) int {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(o)
	defer rdb.Close()
	list, err := rdb.ClientList(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(list, " name="+name+" ")
}

// TestOneRedisClient: the counters and the approvals of one spec share one
// client: after a call of each, the Redis server sees one connection of
// that name (two clients would each have dialled one), and none after
// Close.
func TestOneRedisClient(t *testing.T) {
	url := mcptest.Redis(t)
	const name = "tollgate-backend-test"
	b := open(t, url+"?client_name="+name, Options{Prefix: "one-client"})
	c, a := both(t, b)
	if _, ok := c.(*redisstore.Store); !ok {
		t.Fatalf("counters = %T", c)
	}
	if _, ok := a.(*aprredis.Store); !ok {
		t.Fatalf("approvals = %T", a)
	}
	id := use(t, c, a)
	if _, err := a.Get(t.Context(), id, storetest.T0); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if n := clients(t, url, name); n != 1 {
		t.Errorf("%d connections named %s after one call of each store, want 1", n, name)
	}
	if ps := b.rdb.PoolStats(); ps.TotalConns != 1 {
		t.Errorf("pool holds %d connections, want 1", ps.TotalConns)
	}
	b.Close()
	mcptest.Eventually(t, 5*time.Second, func() bool { return clients(t, url, name) == 0 }, "the backend's connection to close")
	if _, err := c.Reserve(t.Context(), storetest.T0, []state.Charge{storetest.Charge("calls", time.Hour, "1", "10")}); !errors.Is(err, state.ErrUnavailable) {
		t.Errorf("Reserve after Close = %v, want ErrUnavailable", err)
	}
	if _, err := a.Get(t.Context(), id, storetest.T0); !errors.Is(err, approval.ErrUnavailable) {
		t.Errorf("Get after Close = %v, want ErrUnavailable", err)
	}
}

// conformance runs both stores' suites on stores made by backends of spec,
// each backend with both stores made, as a proxy has them.
func conformance(t *testing.T, spec func(t *testing.T) string, opts func(t *testing.T) Options) {
	t.Run("counters", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) state.Store {
			b := open(t, spec(t), opts(t))
			c, _ := both(t, b)
			return c
		})
	})
	t.Run("approvals", func(t *testing.T) {
		aprtest.Run(t, func(t *testing.T) func() approval.Store {
			s, o := spec(t), opts(t)
			return func() approval.Store {
				b := open(t, s, o)
				_, a := both(t, b)
				return a
			}
		})
	})
	t.Run("calls", func(t *testing.T) {
		callstest.Run(t, func(t *testing.T) func() calls.Store {
			s, o := spec(t), opts(t)
			return func() calls.Store {
				b := open(t, s, o)
				both(t, b)
				c, err := b.Calls(t.Context())
				if err != nil {
					t.Fatalf("Calls: %v", err)
				}
				return c
			}
		})
	})
}

// TestCalls: the call store is made once per backend, of the spec's kind,
// beside the other stores on the one handle, and closes with the backend.
func TestCalls(t *testing.T) {
	for _, tc := range []struct {
		spec string
		kind calls.Store
	}{
		{"memory", (*callmem.Store)(nil)},
		{"sqlite://" + filepath.Join(t.TempDir(), "state.db"), (*callsqlite.Store)(nil)},
		{mcptest.Redis(t), (*callredis.Store)(nil)},
	} {
		b := open(t, tc.spec, Options{Prefix: "calls-test"})
		c, a := both(t, b)
		use(t, c, a)
		s, err := b.Calls(t.Context())
		if err != nil {
			t.Fatalf("%s: Calls: %v", tc.spec, err)
		}
		if got, want := fmt.Sprintf("%T", s), fmt.Sprintf("%T", tc.kind); got != want {
			t.Errorf("%s: Calls = %s, want %s", tc.spec, got, want)
		}
		if again, _ := b.Calls(t.Context()); again != s {
			t.Errorf("%s: a second Calls made a second store", tc.spec)
		}
		if ok, err := s.Add(t.Context(), "k", []byte("v"), time.Minute, storetest.T0); err != nil || !ok {
			t.Errorf("%s: Add = %v, %v", tc.spec, ok, err)
		}
		b.Close()
		if _, _, err := s.Get(t.Context(), "k", storetest.T0); !errors.Is(err, calls.ErrUnavailable) {
			t.Errorf("%s: Get after Close = %v, want ErrUnavailable", tc.spec, err)
		}
		if _, err := b.Calls(t.Context()); !errors.Is(err, calls.ErrUnavailable) {
			t.Errorf("%s: Calls after Close = %v, want ErrUnavailable", tc.spec, err)
		}
	}
}

func TestConformanceSQLite(t *testing.T) {
	conformance(t, func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "state.db") },
		func(*testing.T) Options { return Options{} })
}

func TestConformanceRedis(t *testing.T) {
	url := mcptest.Redis(t)
	n := 0
	conformance(t, func(*testing.T) string { return url }, func(*testing.T) Options {
		n++
		return Options{Prefix: "conf" + strings.Repeat("x", n)}
	})
}

func TestConformanceMemory(t *testing.T) {
	t.Run("counters", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) state.Store {
			c, _ := both(t, open(t, "memory", Options{}))
			return c
		})
	})
}

func TestDefaultDir(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_STATE_HOME", xdg)
	b := open(t, "", Options{})
	both(t, b)
	if _, err := os.Stat(filepath.Join(xdg, "tollgate", "state.db")); err != nil {
		t.Errorf("the default spec did not open the file under XDG_STATE_HOME: %v", err)
	}
}

// TestPrivateFileTightens: a state file an older version left readable by
// others is made private, with its -wal and -shm.
func TestPrivateFileTightens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, 0o644)
	}
	if err := stateopen.PrivateFile(path); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", p, fi.Mode(), err)
		}
	}
}
