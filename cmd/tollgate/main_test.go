package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// initsOnly, set in the environment, makes the test binary exit as soon as
// its package initialisers have run.
const initsOnly = "TOLLGATE_TEST_INITS_ONLY"

func TestMain(m *testing.M) {
	if os.Getenv(initsOnly) != "" {
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// ownInitBudget bounds what the initialisers of Tollgate's own packages may
// allocate together. They run at every start of the binary, whatever the
// command and the policy, so tables, scripts and maps are built on first
// use (sync.OnceValue) or laid out as literals instead. 9 KB when this
// test was written; 57 KB before the Redis scripts, the scanner's word
// sets and the inspector's maps were made lazy.
const ownInitBudget = 16 << 10

// notLinked are packages whose initialisers cost every start and which the
// binary does without (docs/performance.md, "Start-up").
var notLinked = []string{
	"runtime/metrics",               // a map of every runtime metric; internal/metrics uses ReadMemStats
	"github.com/cockroachdb/apd/v3", // tables of powers of ten; internal/decimal replaced it
}

// TestStartUpInitialisers runs this test binary, which links every package
// the tollgate command does, with GODEBUG=inittrace=1 and reads what each
// package initialiser allocated.
func TestStartUpInitialisers(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), initsOnly+"=1", "GODEBUG=inittrace=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run the test binary for its inits: %v\n%s", err, stderr.Bytes())
	}
	type initLine struct {
		pkg    string
		bytes  int
		allocs int
	}
	var lines []initLine
	sc := bufio.NewScanner(&stderr)
	for sc.Scan() {
		// init PKG @T ms, C ms clock, B bytes, A allocs
		f := strings.Fields(sc.Text())
		if len(f) != 11 || f[0] != "init" || f[8] != "bytes," || f[10] != "allocs" {
			continue
		}
		b, err1 := strconv.Atoi(f[7])
		a, err2 := strconv.Atoi(f[9])
		if err1 != nil || err2 != nil {
			t.Fatalf("unreadable inittrace line %q", sc.Text())
		}
		lines = append(lines, initLine{f[1], b, a})
	}
	if len(lines) < 50 {
		t.Fatalf("read %d inittrace lines, expected the whole binary's:\n%s", len(lines), stderr.Bytes())
	}
	var own, allocs int
	var report strings.Builder
	for _, l := range lines {
		for _, p := range notLinked {
			if l.pkg == p {
				t.Errorf("%s is linked again: its initialiser runs at every start", p)
			}
		}
		if strings.HasPrefix(l.pkg, "github.com/tollgate-mcp/tollgate/") {
			own += l.bytes
			allocs += l.allocs
			if l.bytes > 0 {
				fmt.Fprintf(&report, "\n  %s: %d bytes, %d allocs", l.pkg, l.bytes, l.allocs)
			}
		}
	}
	if own > ownInitBudget {
		t.Errorf("Tollgate's own package initialisers allocate %d bytes in %d allocations, over the budget of %d:%s",
			own, allocs, ownInitBudget, report.String())
	}
	t.Logf("own initialisers: %d bytes in %d allocations", own, allocs)
}
