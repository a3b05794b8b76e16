package limitstest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// answerTimeout bounds the wait for one answer; generous, since fifty
// processes may start at once on two shared cores.
const answerTimeout = 60 * time.Second

var (
	echoOnce sync.Once
	echoPath string
	echoErr  error
	buildDir string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// echoServer builds the bench echo server once per test process and returns
// the argv that runs it over stdio, appending every call it executes to log.
func echoServer(t testing.TB, log string) []string {
	t.Helper()
	echoOnce.Do(func() {
		buildDir, echoErr = os.MkdirTemp("", "tollgate-limitstest-")
		if echoErr != nil {
			return
		}
		echoPath = filepath.Join(buildDir, "benchcmd")
		cmd := exec.Command("go", "build", "-o", echoPath, "./internal/bench/benchcmd")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			echoErr = fmt.Errorf("go build ./internal/bench/benchcmd: %w\n%s", err, out)
		}
	})
	if echoErr != nil {
		t.Fatal(echoErr)
	}
	return []string{echoPath, "echo", "-log", log}
}

// served returns the calls the echo server executed, by tool name.
func served(t testing.TB, log string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return map[string]int{}
	}
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for line := range strings.Lines(string(data)) {
		var c struct {
			Tool string `json:"tool"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("call log line %q: %v", line, err)
		}
		n[c.Tool]++
	}
	return n
}

// writePolicy writes a policy file and returns its path.
func writePolicy(t testing.TB, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// answer is one JSON-RPC response as the client sees it.
type answer struct {
	ID     json.RawMessage `json:"id"`
	Result *struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool                       `json:"isError"`
		Meta    map[string]json.RawMessage `json:"_meta"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	raw string
}

// decision is _meta["dev.tollgate/decision"].
type decision struct {
	Action       string `json:"action"`
	Rule         string `json:"rule"`
	Reason       string `json:"reason"`
	RetryAfterMS int64  `json:"retry_after_ms"`
}

// allowed reports whether the call went through to the server and succeeded.
func (a answer) allowed() bool { return a.Result != nil && !a.Result.IsError }

// text is the first text content of a result.
func (a answer) text() string {
	if a.Result == nil || len(a.Result.Content) == 0 {
		return ""
	}
	return a.Result.Content[0].Text
}

// decision returns Tollgate's decision, or nil when the answer has none (the
// server answered).
func (a answer) decision(t testing.TB) *decision {
	t.Helper()
	if a.Result == nil {
		return nil
	}
	raw, ok := a.Result.Meta["dev.tollgate/decision"]
	if !ok {
		return nil
	}
	var d decision
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("decision %s: %v", raw, err)
	}
	return &d
}

// tollgate is one `tollgate run` process with the echo server as its child.
type tollgate struct {
	t       testing.TB
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	answers chan answer
	stderr  *lockedBuffer
	exited  chan struct{}
	waitErr error
}

// startTollgate runs `tollgate run -c POLICY FLAGS... -- echo -log LOG`.
func startTollgate(t testing.TB, policy, log string, flags ...string) *tollgate {
	t.Helper()
	argv := append([]string{"run", "-c", policy, "--log-level", "warn"}, flags...)
	argv = append(argv, "--")
	argv = append(argv, echoServer(t, log)...)
	cmd := exec.Command(mcptest.Tollgate(t), argv...)
	g := &tollgate{t: t, cmd: cmd, answers: make(chan answer, 1024), stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = g.stderr
	var err error
	if g.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go g.read(stdout)
	go func() {
		g.waitErr = cmd.Wait()
		close(g.exited)
	}()
	t.Cleanup(func() {
		g.stdin.Close()
		select {
		case <-g.exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-g.exited
		}
		if t.Failed() {
			t.Logf("stderr of tollgate %q:\n%s", argv, g.stderr.String())
		}
	})
	return g
}

func (g *tollgate) read(r io.Reader) {
	defer close(g.answers)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var a answer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			a.raw = "unreadable: " + sc.Text()
		} else {
			a.raw = sc.Text()
		}
		g.answers <- a
	}
}

// send writes lines to Tollgate's stdin in one write, without waiting.
func (g *tollgate) send(lines ...string) {
	g.t.Helper()
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if _, err := g.stdin.Write(b.Bytes()); err != nil {
		g.t.Fatalf("write to tollgate: %v\nstderr:\n%s", err, g.stderr.String())
	}
}

// collect reads n answers, by raw id.
func (g *tollgate) collect(n int) map[string]answer {
	g.t.Helper()
	out := make(map[string]answer, n)
	deadline := time.NewTimer(answerTimeout)
	defer deadline.Stop()
	for len(out) < n {
		select {
		case a, ok := <-g.answers:
			if !ok {
				g.t.Fatalf("tollgate's output ended after %d of %d answers\nstderr:\n%s", len(out), n, g.stderr.String())
			}
			if a.raw != "" && strings.HasPrefix(a.raw, "unreadable") {
				g.t.Fatalf("tollgate wrote %s", a.raw)
			}
			if _, dup := out[string(a.ID)]; dup {
				g.t.Fatalf("two answers for id %s", a.ID)
			}
			out[string(a.ID)] = a
		case <-deadline.C:
			g.t.Fatalf("only %d of %d answers after %v\nstderr:\n%s", len(out), n, answerTimeout, g.stderr.String())
		}
	}
	return out
}

// initialize runs the handshake.
func (g *tollgate) initialize() {
	g.t.Helper()
	g.send(`{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"limitstest","version":"1"}}}`)
	a := g.collect(1)[`"init"`]
	if a.Result == nil {
		g.t.Fatalf("initialize answered %s", a.raw)
	}
	g.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
}

// callLine is a tools/call request line.
func callLine(id int, tool, args string) string {
	return `{"jsonrpc":"2.0","id":` + strconv.Itoa(id) + `,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`
}

// call sends one call and waits for its answer.
func (g *tollgate) call(id int, tool, args string) answer {
	g.t.Helper()
	g.send(callLine(id, tool, args))
	a, ok := g.collect(1)[strconv.Itoa(id)]
	if !ok {
		g.t.Fatalf("no answer to id %d", id)
	}
	return a
}

// stop closes Tollgate's stdin and waits for it to exit.
func (g *tollgate) stop() {
	g.t.Helper()
	g.stdin.Close()
	select {
	case <-g.exited:
	case <-time.After(answerTimeout):
		g.t.Fatalf("tollgate did not exit after its input ended\nstderr:\n%s", g.stderr.String())
	}
}

// kill sends SIGKILL to Tollgate (not its child, which sees its input end).
func (g *tollgate) kill() {
	g.t.Helper()
	if err := g.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		g.t.Fatal(err)
	}
	<-g.exited
}

// tally counts allowed calls and checks that every other answer is a
// limit denial by rule.
func tally(t testing.TB, answers map[string]answer, rule string) (allowed int) {
	t.Helper()
	for id, a := range answers {
		if a.allowed() {
			allowed++
			continue
		}
		d := a.decision(t)
		if d == nil || d.Action != "deny" || d.Rule != rule {
			t.Errorf("id %s: want allowed or denied by %q, got %s", id, rule, a.raw)
		}
	}
	return allowed
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// redisServer starts a redis-server of this test's own (one the test can
// stop) and returns its URL and a function that kills it.
func redisServer(t testing.TB) (url string, kill func()) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if mcptest.RequirePeers() {
			t.Fatal("redis-server not installed: run scripts/test.sh")
		}
		t.Skip("redis-server not installed: run scripts/test.sh")
	}
	port := mcptest.FreePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--daemonize", "no", "--logfile", "")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	kill = func() {
		_ = cmd.Process.Kill()
		<-exited
	}
	t.Cleanup(kill)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		if err := redisPing(addr); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatal("redis-server exited at start")
		case <-ctx.Done():
			t.Fatal("redis-server did not answer PING within 30s")
		case <-time.After(20 * time.Millisecond): // polling another process: no event to wait on
		}
	}
	return "redis://" + addr + "/0", kill
}

func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
