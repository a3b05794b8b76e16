package mcptest

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// envPanicChild makes TestPeerDiesWithPanickingTest's re-run of this test
// binary start a peer and panic.
const envPanicChild = "MCPTEST_PANIC_CHILD"

// TestPeerDiesWithPanickingTest: a test binary that panics off a test's
// goroutine runs no cleanup, so nothing stops its peers but the kernel. The
// test re-runs this binary; the child starts a long sleep as a peer, prints
// its pid and panics; the sleep must be gone soon after.
func TestPeerDiesWithPanickingTest(t *testing.T) {
	if os.Getenv(envPanicChild) == "1" {
		p := startProcess(t, "sleep", []string{"sleep", "120"}, nil)
		os.Stdout.WriteString("peer " + strconv.Itoa(p.cmd.Process.Pid) + "\n")
		// A panic on the test's own goroutine still runs its cleanups; one
		// on another goroutine (a server's handler, say) ends the process
		// at once.
		go panic("a panic off the test's goroutine runs no cleanup")
		select {}
	}
	if _, err := exec.LookPath("sleep"); err != nil {
		t.Skip("no sleep command")
	}
	if !parentDeathSignal {
		t.Skip("no parent-death signal on this system")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeerDiesWithPanickingTest$", "-test.count=1")
	cmd.Env = append(os.Environ(), envPanicChild+"=1")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "peer "); ok {
			pid, _ = strconv.Atoi(rest)
		}
	}
	if err := cmd.Wait(); err == nil {
		t.Fatal("the child test binary did not fail")
	}
	if pid == 0 {
		t.Fatal("the child test binary printed no peer pid")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The peer was the dead child's child: once killed it is gone, or
		// a zombie until whoever adopted it reaps it.
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) || zombie(pid) {
			return
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("peer %d still running 10s after its test binary panicked (kill(0): %v)", pid, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// zombie reports whether process pid has exited and awaits reaping.
func zombie(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := strings.LastIndexByte(string(stat), ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
