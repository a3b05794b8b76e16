package sqlitestore_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/storetest"
)

// Child processes are this test binary re-run with childEnv set to a mode;
// TestMain then plays the child instead of running tests.
const childEnv = "TOLLGATE_SQLITESTORE_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		if err := child(mode, os.Getenv("CHILD_DB")); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// shared is the counter every process charges.
var shared = storetest.Charge("calls", time.Hour, "1", "250")

func child(mode, path string) error {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	switch mode {
	case "open":
		r, err := s.Reserve(ctx, storetest.T0, []state.Charge{storetest.Charge("opens", time.Hour, "1", "1000")})
		if err != nil || !r.Admitted {
			return fmt.Errorf("reserve: %+v, %v", r, err)
		}
		return nil
	case "reserve":
		// Wait for the parent's go (a line on stdin), so that both
		// processes are open and ready before either reserves; then eight
		// goroutines make 40 attempts each, as fast as they can.
		if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
			return err
		}
		var mu sync.Mutex
		admitted := 0
		var wg sync.WaitGroup
		var firstErr error
		for g := range 8 {
			wg.Go(func() {
				for i := range 40 {
					now := storetest.T0.Add(time.Duration(g*40+i) * time.Millisecond)
					r, err := s.Reserve(ctx, now, []state.Charge{shared})
					mu.Lock()
					if err != nil && firstErr == nil {
						firstErr = err
					}
					if r.Admitted {
						admitted++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		fmt.Println(admitted)
		return firstErr
	case "reserve-keep":
		// One reservation of a kept rate charge and a refundable spend
		// charge; its id on stdout for the parent to refund.
		rate, spend := storetest.KeepCharges()
		r, err := s.Reserve(ctx, storetest.T0, []state.Charge{rate, spend})
		if err != nil || !r.Admitted {
			return fmt.Errorf("reserve: %+v, %v", r, err)
		}
		fmt.Println(r.Reservation)
		return nil
	case "load":
		// Reserve until killed, one line per admitted reservation.
		c := storetest.Charge("load", time.Hour, "1", "1000000")
		for i := 0; ; i++ {
			r, err := s.Reserve(ctx, storetest.T0.Add(time.Duration(i)*time.Microsecond), []state.Charge{c})
			if err != nil {
				return err
			}
			if r.Admitted {
				fmt.Println("admitted")
			}
		}
	}
	return fmt.Errorf("unknown mode %q", mode)
}

func childCmd(t *testing.T, mode, path string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "CHILD_DB="+path)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestTwoProcessesShareOneLimit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	// Create the file first so that both children find it ready.
	open(t, path).Close()
	var outs [2]strings.Builder
	var errs [2]error
	var cmds [2]*exec.Cmd
	var gos [2]io.WriteCloser
	for i := range cmds {
		cmds[i] = childCmd(t, "reserve", path)
		cmds[i].Stdout = &outs[i]
		var err error
		if gos[i], err = cmds[i].StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	for _, w := range gos {
		io.WriteString(w, "go\n")
	}
	for i, cmd := range cmds {
		errs[i] = cmd.Wait()
	}
	total := 0
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("child %d: %v", i, errs[i])
		}
		n, err := strconv.Atoi(strings.TrimSpace(outs[i].String()))
		if err != nil {
			t.Fatalf("child %d output %q: %v", i, outs[i].String(), err)
		}
		t.Logf("child %d admitted %d of 320", i, n)
		total += n
	}
	if total != 250 {
		t.Errorf("two processes admitted %d in total against a limit of 250", total)
	}
	s := open(t, path)
	defer s.Close()
	got, err := s.Peek(context.Background(), storetest.T0.Add(time.Second), shared.Key, shared.Window, shared.Align, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := storetest.Dec("250"); got.Cmp(&want) != 0 {
		t.Errorf("total in the file = %s, want 250", &got)
	}
}

func TestRestartKeepsCounts(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	c := storetest.Charge("calls", time.Hour, "1", "10")
	cal := storetest.Charge("daily", 24*time.Hour, "0.5", "10")
	cal.Align = state.Calendar
	s := open(t, path)
	var last state.Result
	for i := range 6 {
		r, err := s.Reserve(ctx, storetest.T0.Add(time.Duration(i)*time.Second), []state.Charge{c, cal})
		if err != nil || !r.Admitted {
			t.Fatalf("Reserve: %+v, %v", r, err)
		}
		last = r
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	defer s.Close()
	// A reservation made before the restart is refunded from the file.
	if err := s.Refund(ctx, last.Reservation); err != nil {
		t.Fatal(err)
	}
	if err := s.Refund(ctx, last.Reservation); err != nil {
		t.Fatal(err)
	}
	admitted := 0
	for i := range 10 {
		r, err := s.Reserve(ctx, storetest.T0.Add(time.Minute+time.Duration(i)*time.Second), []state.Charge{c, cal})
		if err != nil {
			t.Fatal(err)
		}
		if r.Admitted {
			admitted++
		}
	}
	if admitted != 5 {
		t.Errorf("after restart admitted %d more, want 5 (10 - 6 + 1 refunded)", admitted)
	}
	got, err := s.Peek(ctx, storetest.T0.Add(2*time.Minute), cal.Key, cal.Window, cal.Align, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := storetest.Dec("5.0"); got.Cmp(&want) != 0 {
		t.Errorf("calendar total = %s, want 5.0", &got)
	}
}

// TestRefundFromAnotherProcessKeepsKeptCharges refunds, in this process, a
// reservation another process made and left: the refund comes from the file,
// and must still leave the kept charge counted, in this process's mirror as in
// the file.
func TestRefundFromAnotherProcessKeepsKeptCharges(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	rate, spend := storetest.KeepCharges()
	s := open(t, path)
	defer s.Close()
	// This process counts one call first, so that its mirror holds the
	// counter when the other process writes.
	if r, err := s.Reserve(ctx, storetest.T0, []state.Charge{rate}); err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	cmd := childCmd(t, "reserve-keep", path)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	res := strings.TrimSpace(string(out))
	for range 2 {
		if err := s.Refund(ctx, res); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *sqlitestore.Store, who string) {
		t.Helper()
		for _, c := range []struct {
			ch   state.Charge
			want string
		}{{rate, "2"}, {spend, "0"}} {
			got, err := s.Peek(ctx, storetest.T0, c.ch.Key, c.ch.Window, c.ch.Align, nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := storetest.Dec(c.want); got.Cmp(&want) != 0 {
				t.Errorf("%s: %s after the refund = %s, want %s", who, c.ch.Key.Counter, &got, c.want)
			}
		}
	}
	check(s, "refunding process")
	// The rate limit of 2 is reached: the failed call still counts.
	if r, err := s.Reserve(ctx, storetest.T0, []state.Charge{rate}); err != nil || r.Admitted {
		t.Errorf("third call under a limit of 2: %+v, %v; want denied", r, err)
	}
	s2 := open(t, path)
	defer s2.Close()
	check(s2, "a fresh process")
}

// TestRefundAfterRestartKeepsKeptCharges refunds a reservation made before
// a restart.
func TestRefundAfterRestartKeepsKeptCharges(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	rate, spend := storetest.KeepCharges()
	s := open(t, path)
	r, err := s.Reserve(ctx, storetest.T0, []state.Charge{rate, spend})
	if err != nil || !r.Admitted {
		t.Fatalf("Reserve: %+v, %v", r, err)
	}
	s.Close()
	s = open(t, path)
	defer s.Close()
	for range 2 {
		if err := s.Refund(ctx, r.Reservation); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		ch   state.Charge
		want string
	}{{rate, "1"}, {spend, "0"}} {
		got, err := s.Peek(ctx, storetest.T0, c.ch.Key, c.ch.Window, c.ch.Align, nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := storetest.Dec(c.want); got.Cmp(&want) != 0 {
			t.Errorf("%s after the refund = %s, want %s", c.ch.Key.Counter, &got, c.want)
		}
	}
}

func TestKilledProcessKeepsCounts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := childCmd(t, "load", path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	printed := 0
	for sc.Scan() {
		printed++
		if printed == 200 {
			cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed", err)
	}
	s := open(t, path)
	defer s.Close()
	c := storetest.Charge("load", time.Hour, "1", "1000000")
	got, err := s.Peek(context.Background(), storetest.T0.Add(time.Second), c.Key, c.Window, c.Align, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The child prints after its transaction commits: the file holds every
	// printed reservation, plus at most the one committed but not printed.
	n, _ := strconv.Atoi(got.String())
	if n != printed && n != printed+1 {
		t.Errorf("file holds %s reservations, child reported %d", &got, printed)
	}
	r, err := s.Reserve(context.Background(), storetest.T0.Add(time.Second), []state.Charge{c})
	if err != nil || !r.Admitted {
		t.Errorf("Reserve after the kill: %+v, %v", r, err)
	}
}

func TestFiftyProcessesOpenAFreshFile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 50 processes")
	}
	path := filepath.Join(t.TempDir(), "fresh", "dir", "state.db")
	const n = 50
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmds[i] = childCmd(t, "open", path)
	}
	// Start them all before waiting for any.
	for i, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child %d: %v", i, err)
		}
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("child %d: %v", i, err)
		}
	}
	s := open(t, path)
	defer s.Close()
	c := storetest.Charge("opens", time.Hour, "1", "1000")
	got, err := s.Peek(context.Background(), storetest.T0, c.Key, c.Window, c.Align, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := storetest.Dec(strconv.Itoa(n)); got.Cmp(&want) != 0 {
		t.Errorf("total = %s, want %d (one per process)", &got, n)
	}
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", fi.Mode().Perm())
	}
}
