package sqlitestore_test

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

func open(t testing.TB, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), path, sqlitestore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) state.Store {
		return open(t, filepath.Join(t.TempDir(), "state.db"))
	})
}

func BenchmarkReserve(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) state.Store {
		return open(b, filepath.Join(b.TempDir(), "state.db"))
	})
}

// TestCancelledCallIsNotCounted: a call whose context has ended is refused
// with ErrUnavailable and charges nothing.
func TestCancelledCallIsNotCounted(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	c := storetest.Charge("calls", time.Minute, "1", "10")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Reserve(ctx, storetest.T0, []state.Charge{c}); !errors.Is(err, state.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("Reserve with a cancelled context: %v, want ErrUnavailable and context.Canceled", err)
	}
	got, err := s.Peek(context.Background(), storetest.T0, c.Key, c.Window, c.Align, nil)
	if err != nil || !got.IsZero() {
		t.Errorf("Peek after the cancelled call = %s, %v; want 0", &got, err)
	}
}

// TestCloseUnderLoad closes the store while sixteen callers reserve: every
// call returns (admitted, or ErrUnavailable once closed), and every
// admission reported is in the file.
func TestCloseUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	c := storetest.Charge("calls", time.Hour, "1", "1000000")
	var admitted atomic.Int64
	started := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				r, err := s.Reserve(context.Background(), storetest.T0.Add(time.Duration(g*100000+i)), []state.Charge{c})
				if err != nil {
					if !errors.Is(err, state.ErrUnavailable) {
						t.Errorf("Reserve while closing: %v", err)
					}
					return
				}
				if r.Admitted {
					admitted.Add(1)
				}
				if i == 10 {
					started <- struct{}{}
				}
			}
		})
	}
	for range 16 {
		<-started
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	s = open(t, path)
	defer s.Close()
	got, err := s.Peek(context.Background(), storetest.T0.Add(time.Second), c.Key, c.Window, c.Align, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := storetest.Dec(strconv.FormatInt(admitted.Load(), 10)); got.Cmp(&want) != 0 {
		t.Errorf("the file counts %s calls, callers were told %s were admitted", &got, &want)
	}
}

// TestBurstsThenLoneCalls alternates bursts of sixteen concurrent callers
// (the relay takes the leader's role while requests keep queueing) with
// calls one at a time (the role must have become vacant again, or a lone
// call would wait for ever): every call returns, and the limit holds
// exactly across both.
func TestBurstsThenLoneCalls(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	const limit = 250
	c := storetest.Charge("calls", time.Hour, "1", strconv.Itoa(limit))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var admitted atomic.Int64
	call := func(at time.Time) {
		r, err := s.Reserve(ctx, at, []state.Charge{c})
		if err != nil {
			t.Errorf("Reserve: %v", err)
			return
		}
		if r.Admitted {
			admitted.Add(1)
		}
	}
	at := storetest.T0
	for range 10 {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for range 2 {
					call(at)
				}
			})
		}
		wg.Wait()
		for range 3 {
			call(at)
		}
		at = at.Add(time.Millisecond)
	}
	if got := admitted.Load(); got != limit {
		t.Errorf("admitted %d of %d calls, want exactly the limit %d", got, 10*(32+3), limit)
	}
	got, err := s.Peek(ctx, at, c.Key, c.Window, c.Align, nil)
	if want := storetest.Dec(strconv.Itoa(limit)); err != nil || got.Cmp(&want) != 0 {
		t.Errorf("Peek = %s, %v; want %s", &got, err, &want)
	}
}

// TestReadyCallersShareATransaction: callers that are ready to run on the
// one processor at the same moment (the goroutines a proxy hands a burst of
// calls to) queue behind the first one's transaction and share the next,
// instead of each running a transaction of its own.
func TestReadyCallersShareATransaction(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "state.db"))
	defer s.Close()
	c := storetest.Charge("calls", time.Hour, "1", "1000")
	ctx := context.Background()
	if _, err := s.Reserve(ctx, storetest.T0, []state.Charge{c}); err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const callers = 16
	for round := range 5 {
		before := sqlitestore.Batches(s)
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				if r, err := s.Reserve(ctx, storetest.T0, []state.Charge{c}); err != nil || !r.Admitted {
					t.Errorf("Reserve: %+v, %v", r, err)
				}
			})
		}
		wg.Wait()
		if n := sqlitestore.Batches(s) - before; n > callers/4 {
			t.Errorf("round %d: %d ready callers took %d transactions, want at most %d", round, callers, n, callers/4)
		}
	}
}
