package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
)

// TestMain turns the test binary into a fake MCP server when
// TOLLGATE_E2E_FAKE names a behaviour, so child-process tests need no
// separate program (the go-sdk's fork-and-exec trick).
func TestMain(m *testing.M) {
	if mode := os.Getenv("TOLLGATE_E2E_FAKE"); mode != "" {
		os.Exit(fakeServer(mode))
	}
	os.Exit(m.Run())
}

// fakeServer answers every request with a result echoing what it saw, after
// printing a banner that is not JSON. Modes: "echo"; "exit7" (exit 7 after
// the first request); "term" (report SIGTERM as a notification, exit 0).
func fakeServer(mode string) int {
	fmt.Fprintln(os.Stderr, "fake server stderr: starting")
	fmt.Println("Fake server ready (not JSON)")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		fmt.Println(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"got SIGTERM"}}`)
		os.Exit(0)
	}()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		id := between(line, `"id":`, `,`)
		if id == "" {
			continue
		}
		env := os.Getenv("FAKE_SECRET")
		fmt.Printf(`{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"ran: %s env=%s"}]}}`+"\n", id, strings.ReplaceAll(between(line, `"name":"`, `"`), `\`, ``), env)
		if mode == "exit7" {
			return 7
		}
	}
	return 0
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}

func TestHelperIsNotATest(t *testing.T) {
	if between(`{"id":5,"x"}`, `"id":`, `,`) != "5" {
		t.Fatal("between broken")
	}
}
