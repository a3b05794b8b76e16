package e2e

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// tollgateProc is a running `tollgate run` with raw access to its stdio.
type tollgateProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Scanner
	stdout io.ReadCloser // the pipe out reads
	stderr *syncBuf
}

func startTollgate(t *testing.T, policySrc string, env []string, server ...string) *tollgateProc {
	t.Helper()
	tg := mcptest.Tollgate(t)
	pol := writePolicy(t, policySrc)
	args := append([]string{"run", "-c", pol, "--"}, server...)
	cmd := exec.Command(tg, args...)
	cmd.Env = append(os.Environ(), env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 8<<20)
	p := &tollgateProc{cmd: cmd, stdin: stdin, out: sc, stdout: stdout, stderr: stderr}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return p
}

// roundTrip sends one line and returns the next line Tollgate writes.
func (p *tollgateProc) roundTrip(t *testing.T, line string) string {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		if p.out.Scan() {
			got <- p.out.Text()
		} else {
			got <- "<EOF>"
		}
	}()
	select {
	case s := <-got:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("no answer to %s; stderr:\n%s", line, p.stderr.String())
		return ""
	}
}

func fakeArgv(t *testing.T) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{exe}
}

const bypassPolicy = `version: "1"
hide: [delete_repository]
tools:
  create_refund:
    rules:
      - name: cap
        conditions:
          - path: args.amount
            op: lte
            value: 100
        on_deny: "cap"
`

// Each raw message below is an attempt to make the server run something the
// policy forbids. None may reach the server: the fake server would answer
// with "ran: ...".
func TestBypassAttemptsThroughTheBinary(t *testing.T) {
	p := startTollgate(t, bypassPolicy, []string{"TOLLGATE_E2E_FAKE=echo"}, fakeArgv(t)...)
	attempts := map[string]string{
		"duplicate argument":       `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":1,"amount":5000}}}`,
		"case variant argument":    `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":1,"AMOUNT":5000}}}`,
		"Name beside name":         `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"create_refund","Name":"delete_repository","arguments":{}}}`,
		"duplicate name":           `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"create_refund","name":"delete_repository"}}`,
		"escaped hidden name":      `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"delete_\u0072epository"}}`,
		"Arguments alone":          `{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"create_refund","Arguments":{"amount":5000}}}`,
		"duplicate method":         `{"jsonrpc":"2.0","id":7,"method":"ping","method":"tools/call","params":{"name":"delete_repository"}}`,
		"Method beside method":     `{"jsonrpc":"2.0","id":8,"method":"ping","METHOD":"tools/call","params":{"name":"delete_repository"}}`,
		"string amount":            `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":"5000"}}}`,
		"huge exponent":            `{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":1e999}}}`,
		"just over the cap":        `{"jsonrpc":"2.0","id":11,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":100.00000000000000000001}}}`,
		"big integer":              `{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":9007199254740993}}}`,
		"invalid utf-8 argument":   "{\"jsonrpc\":\"2.0\",\"id\":13,\"method\":\"tools/call\",\"params\":{\"name\":\"create_refund\",\"arguments\":{\"amount\":1,\"note\":\"\xff\"}}}",
		"lone surrogate":           `{"jsonrpc":"2.0","id":14,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":1,"note":"\ud800"}}}`,
		"kelvin-sign key variant":  "{\"jsonrpc\":\"2.0\",\"id\":15,\"method\":\"tools/call\",\"params\":{\"name\":\"create_refund\",\"arguments\":{\"amount\":1,\"k\":1,\"\u212A\":2}}}",
		"batch before negotiation": `[{"jsonrpc":"2.0","id":16,"method":"tools/call","params":{"name":"delete_repository"}}]`,
		"truncated message":        `{"jsonrpc":"2.0","id":17,"method":"tools/call","params":{"name":"delete_repository"}`,
	}
	for name, raw := range attempts {
		t.Run(name, func(t *testing.T) {
			got := p.roundTrip(t, raw)
			if strings.Contains(got, "ran:") {
				t.Fatalf("reached the server: %s", got)
			}
			if !strings.Contains(got, `"error"`) && !strings.Contains(got, `"isError":true`) {
				t.Errorf("not refused: %s", got)
			}
		})
	}
	// The session is still usable, and a fair call runs.
	if got := p.roundTrip(t, `{"jsonrpc":"2.0","id":99,"method":"tools/call","params":{"name":"create_refund","arguments":{"amount":100}}}`); !strings.Contains(got, "ran: create_refund") {
		t.Errorf("fair call: %s", got)
	}
}

// The child's environment, stderr and exit status pass through; its
// non-JSON stdout lines are logged, not forwarded.
func TestChildProcess(t *testing.T) {
	p := startTollgate(t, "version: \"1\"\n", []string{"TOLLGATE_E2E_FAKE=exit7", "FAKE_SECRET=s3"}, fakeArgv(t)...)
	got := p.roundTrip(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}}`)
	if !strings.Contains(got, "ran: a env=s3") {
		t.Errorf("answer %s", got)
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if !asExit(err, &ee) || ee.ExitCode() != 7 {
		t.Errorf("tollgate exit: %v, want status 7", err)
	}
	if s := p.stderr.String(); !strings.Contains(s, "fake server stderr: starting") || !strings.Contains(s, "Fake server ready") {
		t.Errorf("stderr lacks the child's stderr or the dropped banner:\n%s", s)
	}
}

func asExit(err error, ee **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*ee = e
	return ok
}

// SIGTERM to tollgate stops the server the careful way: its stdin is closed
// first, and a server that exits then needs no signal. What it writes on
// the way out still reaches the client, and tollgate exits 128+SIGTERM.
// (A server that ignores both is covered by cli's TestRunStopsAStubbornServer.)
func TestSIGTERMStopsServerCarefully(t *testing.T) {
	p := startTollgate(t, "version: \"1\"\n", []string{"TOLLGATE_E2E_FAKE=term"}, fakeArgv(t)...)
	p.roundTrip(t, `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan []string, 1)
	go func() {
		var lines []string
		for p.out.Scan() {
			lines = append(lines, p.out.Text())
		}
		done <- lines
	}()
	select {
	case lines := <-done:
		for _, l := range lines {
			if strings.Contains(l, "got SIGTERM") {
				t.Errorf("the server got SIGTERM although it exits when its input ends: %q", l)
			}
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tollgate's output never ended after SIGTERM")
	}
	err := p.cmd.Wait()
	var ee *exec.ExitError
	if !asExit(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Errorf("tollgate ended with %v, want exit status 143", err)
	}
}

// syncBuf is a strings.Builder safe for one writer and concurrent readers.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
