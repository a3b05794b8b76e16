package cli

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain makes the test binary the tollgate command of the scripts (when
// it is started as "tollgate", it runs Main, as cmd/tollgate does), and
// keeps the default state and audit directories of tollgate run (and of
// the binaries the tests start) out of the real home directory.
func TestMain(m *testing.M) {
	testscript.Main(privateState{m}, map[string]func(){"tollgate": tollgateMain})
}

// tollgateMain is cmd/tollgate's main.
func tollgateMain() {
	MaxProcs = runtime.GOMAXPROCS
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// privateState runs the tests with XDG_STATE_HOME in a directory of their
// own, removed afterwards.
type privateState struct{ m *testing.M }

func (p privateState) Run() int {
	dir, err := os.MkdirTemp("", "tollgate-cli-test-state")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	os.Setenv("XDG_STATE_HOME", dir)
	return p.m.Run()
}

// TestScripts runs the command-line scripts in testdata/script: each one
// runs tollgate (this test binary, see TestMain) in a fresh directory
// holding the files of its txtar archive, and checks exit codes and output.
// $EXAMPLES is the repository's examples directory; "exits N prog args..."
// runs a program like exec and checks its exit status is N.
func TestScripts(t *testing.T) {
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Cmds:                map[string]func(*testscript.TestScript, bool, []string){"exits": cmdExits},
		Setup: func(env *testscript.Env) error {
			env.Setenv("XDG_STATE_HOME", filepath.Join(env.WorkDir, ".state"))
			env.Setenv("EXAMPLES", examples)
			return nil
		},
	})
}

// cmdExits is "exits N prog args...": exec, and the exit status must be N
// (a script's "! exec" tells only that a command failed, and tollgate's
// usage errors (2) and failures (1) are different promises).
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits N program [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: %q is not an exit status", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}
