package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// TestTwoStoresActAsOne drives two Stores on one file (each with its own
// mirror, as two processes would have) and a memory store with the same
// random operations: reservations through either, refunds through the store
// that made the reservation or the other one, commits, peeks, restarts, and
// a clock that moves by bounds of the windows. Every answer must match the
// memory store's: the mirrors stay exact through each other's writes.
func TestTwoStoresActAsOne(t *testing.T) {
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { twoStoresActAsOne(t, seed) })
	}
}

func twoStoresActAsOne(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 42))
	path := filepath.Join(t.TempDir(), "state.db")
	stores := [2]*sqlitestore.Store{open(t, path), open(t, path)}
	defer func() {
		for _, s := range stores {
			s.Close()
		}
	}()
	oracle := memstore.New()
	defer oracle.Close()

	kinds := []state.Charge{
		storetest.Charge("fast", 5*time.Second, "1", "4"),
		storetest.Charge("slow", 20*time.Second, "0.25", "2.5"),
		storetest.Charge("tiny", time.Second, "1", "2"),
	}
	cal := storetest.Charge("cal", 10*time.Second, "0.5", "3")
	cal.Align = state.Calendar
	kinds = append(kinds, cal)

	type outstanding struct {
		ids   [2]string // sqlite id, oracle id
		owner int
		final bool // its owner was restarted: only a foreign refund may touch it
	}
	var out []outstanding
	now := storetest.T0
	for step := range 1500 {
		now = now.Add(time.Duration(rng.IntN(700)) * time.Millisecond)
		who := rng.IntN(2)
		s := stores[who]
		switch op := rng.IntN(20); {
		case op < 11: // reserve
			var charges []state.Charge
			for _, k := range rng.Perm(len(kinds))[:1+rng.IntN(3)] {
				ch := kinds[k]
				ch.KeepOnRefund = rng.IntN(2) == 0
				charges = append(charges, ch)
			}
			got, err := s.Reserve(ctx, now, charges)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := oracle.Reserve(ctx, now, charges)
			if diff := cmp.Diff(summary(want), summary(got)); diff != "" {
				t.Fatalf("step %d: Reserve through store %d (-memory +sqlite):\n%s", step, who, diff)
			}
			if got.Admitted {
				out = append(out, outstanding{ids: [2]string{got.Reservation, want.Reservation}, owner: who})
			}
		case op < 15 && len(out) > 0: // refund, through either store
			i := rng.IntN(len(out))
			o := out[i]
			by := rng.IntN(2)
			if o.final {
				by = 1 - o.owner
			}
			if err := stores[by].Refund(ctx, o.ids[0]); err != nil {
				t.Fatal(err)
			}
			oracle.Refund(ctx, o.ids[1])
			out = append(out[:i], out[i+1:]...)
		case op < 17 && len(out) > 0: // commit, through the owner
			i := rng.IntN(len(out))
			if o := out[i]; !o.final {
				stores[o.owner].Commit(ctx, o.ids[0])
				oracle.Commit(ctx, o.ids[1])
				out = append(out[:i], out[i+1:]...)
			}
		case op < 19: // peek
			k := kinds[rng.IntN(len(kinds))]
			got, err := s.Peek(ctx, now, k.Key, k.Window, k.Align, nil)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := oracle.Peek(ctx, now, k.Key, k.Window, k.Align, nil)
			if got.Cmp(&want) != 0 {
				t.Fatalf("step %d: Peek %s through store %d = %s, memory says %s", step, k.Key.Counter, who, &got, &want)
			}
		default: // restart one store
			s.Close()
			stores[who] = open(t, path)
			for i := range out {
				if out[i].owner == who {
					out[i].final = true
				}
			}
		}
	}
}

// summary is what two stores must agree on in a Result (ids differ).
func summary(r state.Result) string {
	s := fmt.Sprintf("admitted=%v denied=%d retry=%v totals=", r.Admitted, r.Denied, r.RetryAfter)
	for _, t := range r.Totals {
		t.Reduce(&t)
		s += t.Text('f') + " "
	}
	return s
}

// TestDeadRowsAreDeleted: rows whose charges left their windows, refunded
// charges and (later) their refund rows leave the file, which stays the size
// of what counts.
func TestDeadRowsAreDeleted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	s := open(t, path)
	defer s.Close()
	c := storetest.Charge("calls", time.Second, "1", "1000")
	now := storetest.T0
	for i := range 3000 {
		now = now.Add(10 * time.Millisecond)
		r, err := s.Reserve(ctx, now, []state.Charge{c})
		if err != nil || !r.Admitted {
			t.Fatalf("Reserve: %+v, %v", r, err)
		}
		if i%10 == 0 {
			s.Refund(ctx, r.Reservation)
		}
	}
	// 100 charges live in a 1s window, another 100 in the second they are
	// kept past it, up to 256 wait to be deleted together, and some refund
	// rows wait for those.
	if n := rows(t, path); n > 600 {
		t.Errorf("%d rows in the file after 3000 reservations in a 1s window", n)
	}
	// Two minutes later everything has left, refund rows included.
	now = now.Add(2 * time.Minute)
	if _, err := s.Reserve(ctx, now, []state.Charge{c}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	if _, err := s.Reserve(ctx, now, []state.Charge{c}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := s.Reserve(ctx, now, []state.Charge{c}); err != nil {
		t.Fatal(err)
	}
	if n := rows(t, path); n > 2 {
		t.Errorf("%d rows in the file when one charge counts, want at most 2 (it, and the last seq kept)", n)
	}
}

func rows(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM entries`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
