package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/signal"
	"strconv"
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

// fakeServer answers every request with a result echoing what it saw (a
// tools/call of a name starting "no_such" or with Tollgate's probe prefix
// gets an unknown-tool error in its own words), after
// printing a banner that is not JSON. Modes: "echo"; "exit7" (exit 7 after
// the first request); "term" (report SIGTERM as a notification, exit 0);
// "cancel-errors" (see cancelErrors).
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
	if mode == "cancel-errors" {
		return cancelErrors(sc)
	}
	for sc.Scan() {
		line := sc.Text()
		id := between(line, `"id":`, `,`)
		if id == "" {
			continue
		}
		name := strings.ReplaceAll(between(line, `"name":"`, `"`), `\`, ``)
		if strings.HasPrefix(name, "no_such") || strings.HasPrefix(name, "tollgate_probe_") {
			// The tools it lacks: Tollgate's probe names (see proxy.Ruling.Unknown), and no_such*.
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"no tool named '%s'"}}`+"\n", id, name)
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

// cancelErrors is a server whose tools/call runs until the client cancels
// it, and then answers it with an error, as some SDKs do; a call with
// "fail":true in its arguments fails at once. It logs "running ID" when a
// call starts.
//
// It keys the calls it runs as a JavaScript object does, by property name:
// a cancellation of 2.0 or "2" cancels the call 2, which it answers under
// the id that call came with.
func cancelErrors(sc *bufio.Scanner) int {
	running := map[string]string{} // property name → the call's id
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, `"notifications/cancelled"`):
			id := between(line, `"requestId":`, `,`)
			if orig, ok := running[propertyName(id)]; ok {
				id = orig
			}
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32800,"message":"request cancelled"}}`+"\n", id)
		case strings.Contains(line, `"fail":true`):
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32603,"message":"refund failed"}}`+"\n", between(line, `"id":`, `,`))
		case strings.Contains(line, `"tools/call"`):
			id := between(line, `"id":`, `,`)
			running[propertyName(id)] = id
			fmt.Printf(`{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"running %s"}}`+"\n", id)
		}
	}
	return 0
}

// propertyName is the name under which a JavaScript object keys an id:
// the string's text, or the number as JavaScript writes it.
func propertyName(id string) string {
	if s, err := strconv.Unquote(id); err == nil {
		return s
	}
	f, err := strconv.ParseFloat(id, 64)
	if err != nil {
		return id
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
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
