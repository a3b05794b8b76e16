package proxy_test

import (
	"bufio"
	"context"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/procs"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
)

// stackGate is a gate.Gate that notes, for each call it judges, whether it
// was judged on the pump's client read loop. With release set, it holds
// every call whose id is a string starting with h until release is closed.
type stackGate struct {
	*gate.Gate
	mu         sync.Mutex
	inLoop     []bool
	goroutines []string // "goroutine N" of each judgement

	release chan struct{}
	held    atomic.Int32
}

func (g *stackGate) Judge(ctx context.Context, c *proxy.Call) proxy.Ruling {
	buf := make([]byte, 64<<10)
	stack := string(buf[:runtime.Stack(buf, false)])
	g.mu.Lock()
	g.inLoop = append(g.inLoop, strings.Contains(stack, "clientLoop"))
	id, _, _ := strings.Cut(stack, " [")
	g.goroutines = append(g.goroutines, id)
	g.mu.Unlock()
	if g.release != nil && strings.HasPrefix(string(c.ID), `"h`) {
		g.held.Add(1)
		<-g.release
	}
	return g.Gate.Judge(ctx, c)
}

// judged returns where the calls judged since the last look were judged
// (on the read loop or not), and forgets them.
func (g *stackGate) judged() []bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	in := g.inLoop
	g.inLoop = nil
	return in
}

// perMinute is a policy with a rate limit of n calls a minute on echo.
func perMinute(t *testing.T, n int) *policy.Policy {
	t.Helper()
	pol, err := policy.Load("p.yaml", []byte(`version: "1"
tools:
  echo:
    rules:
      - name: per minute
        rate_limit: `+strconv.Itoa(n)+`/minute
`))
	if err != nil {
		t.Fatal(err)
	}
	return pol
}

// tenAMinute is a policy with a rate limit on echo.
func tenAMinute(t *testing.T) *policy.Policy { return perMinute(t, 10) }

// manyAMinute is a policy with a rate limit on echo that tests never reach.
func manyAMinute(t *testing.T) *policy.Policy { return perMinute(t, 1000) }

// echoSession starts a session of g over a fake echo server (with more
// lines of its script, if any) and returns the client's side: what it
// writes, and the answers it reads, a line each. The session ends with the
// test.
func echoSession(t *testing.T, g proxy.Gate, more ...string) (*io.PipeWriter, <-chan string) {
	t.Helper()
	fs := newFakeServer(t, append([]string{`tool echo => {"content":[]}`}, more...))
	cw, pr, pw, done := startPump(t, g, fs, 0)
	t.Cleanup(func() {
		cw.Close()
		<-done
		pw.Close()
	})
	answers := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			answers <- sc.Text()
		}
	}()
	return cw, answers
}

// blockingStore hides memstore's NonBlocking, as a store that does I/O would.
type blockingStore struct{ state.Store }

// TestQuickAdmissionRunsOnTheReadLoop: a limit kept in memory is reserved
// on the read loop; one kept in a store that may block is reserved off it.
// Either way the call is forwarded and answered.
func TestQuickAdmissionRunsOnTheReadLoop(t *testing.T) {
	pol := tenAMinute(t)
	for _, tc := range []struct {
		name   string
		store  state.Store
		inLoop bool
	}{
		{"memory", memstore.New(), true},
		{"blocking", blockingStore{memstore.New()}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &stackGate{Gate: gate.New(pol)}
			g.Store = tc.store
			fs := newFakeServer(t, []string{`tool echo => {"content":[]}`})
			cw, pr, pw, done := startPump(t, g, fs, 0)
			go io.WriteString(cw, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{}}}`+"\n")
			sc := bufio.NewScanner(pr)
			if !sc.Scan() {
				t.Fatalf("no answer: %v", sc.Err())
			}
			if got, want := sc.Text(), `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`; got != want {
				t.Errorf("answer %s, want %s", got, want)
			}
			cw.Close()
			<-done
			pw.Close()
			g.mu.Lock()
			defer g.mu.Unlock()
			if len(g.inLoop) != 1 || g.inLoop[0] != tc.inLoop {
				t.Errorf("admissions on the read loop: %v, want [%v]", g.inLoop, tc.inLoop)
			}
		})
	}
}

// TestIdleJudgeGoroutineIsReused: calls kept in a store that may block are
// judged off the read loop, one after another on the judge goroutines the
// process keeps while they are idle (their stacks already grown for the
// store), not on a new goroutine each.
func TestIdleJudgeGoroutineIsReused(t *testing.T) {
	pol := manyAMinute(t)
	g := &stackGate{Gate: gate.New(pol)}
	g.Store = blockingStore{memstore.New()}
	fs := newFakeServer(t, []string{`tool echo => {"content":[]}`})
	cw, pr, pw, done := startPump(t, g, fs, 0)
	sc := bufio.NewScanner(pr)
	// A request the server never answers: every call overlaps with it,
	// and is handed off (see TestLoneCallsAreJudgedOnTheReadLoop). Written
	// before the first call, not beside it: the pump reads it first.
	io.WriteString(cw, `{"jsonrpc":"2.0","id":"open","method":"resources/list"}`+"\n")
	const calls = 40
	for i := 1; i <= calls; i++ {
		go io.WriteString(cw, `{"jsonrpc":"2.0","id":`+strconv.Itoa(i)+`,"method":"tools/call","params":{"name":"echo","arguments":{}}}`+"\n")
		if !sc.Scan() {
			t.Fatalf("call %d: no answer: %v", i, sc.Err())
		}
		if got, want := sc.Text(), `{"jsonrpc":"2.0","id":`+strconv.Itoa(i)+`,"result":{"content":[]}}`; got != want {
			t.Fatalf("answer %s, want %s", got, want)
		}
	}
	cw.Close()
	<-done
	pw.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	if slices.Contains(g.inLoop, true) {
		t.Errorf("judged on the read loop: %v", g.inLoop)
	}
	// At most as many as the process keeps (16), whatever earlier tests
	// left idle; a goroutine per call would be 40.
	if distinct := len(slices.Compact(slices.Sorted(slices.Values(g.goroutines)))); len(g.goroutines) != calls || distinct > 16 {
		t.Errorf("%d calls judged on %d goroutines, want at most 16", len(g.goroutines), distinct)
	}
}

// personGate is a stackGate whose every call may wait for a person.
type personGate struct{ *stackGate }

func (g personGate) Waits(string) proxy.Wait { return proxy.WaitPerson }

// TestLoneCallsAreJudgedOnTheReadLoop: once calls come one at a time, a
// call kept in a store that may block is judged on the read loop, with no
// hand-off; once a request overlaps another, calls are handed off again
// until enough came one at a time. A call that may wait for a person is
// always handed off.
func TestLoneCallsAreJudgedOnTheReadLoop(t *testing.T) {
	// A store slower than slowStore ends a run of lone calls
	// (TestMessagesWaitForALoneCallsStore); this one is slow only when the
	// machine is, which is not what this test is about.
	t.Cleanup(proxy.SetSlowStore(time.Hour))
	const lone = 24 // more than the pump's aloneCalls
	call := func(id string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"echo","arguments":{}}}` + "\n"
	}
	for _, tc := range []struct {
		name   string
		gate   func(*stackGate) proxy.Gate
		inLoop bool // whether the last lone call is judged on the loop
	}{
		{"store", func(g *stackGate) proxy.Gate { return g }, true},
		{"person", func(g *stackGate) proxy.Gate { return personGate{g} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &stackGate{Gate: gate.New(manyAMinute(t))}
			g.Store = blockingStore{memstore.New()}
			cw, answers := echoSession(t, tc.gate(g))
			inLoop := func(n int) []bool {
				t.Helper()
				for i := range n {
					select {
					case got := <-answers:
						if !strings.Contains(got, `"result":{"content":[]}`) {
							t.Fatalf("answer %s", got)
						}
					case <-time.After(5 * time.Second):
						t.Fatalf("%d of %d answers", i, n)
					}
				}
				return g.judged()
			}
			for i := range lone {
				io.WriteString(cw, call(strconv.Itoa(i+1)))
				if got := inLoop(1); len(got) != 1 {
					t.Fatalf("call %d judged %d times", i+1, len(got))
				} else if i == 0 && got[0] {
					t.Error("the session's first call was judged on the read loop")
				} else if i == lone-1 && got[0] != tc.inLoop {
					t.Errorf("call %d of %d that came one at a time: judged on the read loop %v, want %v", i+1, lone, got[0], tc.inLoop)
				}
			}
			if !tc.inLoop {
				return
			}
			// A request the server never answers: the calls after it overlap
			// with it, and are handed off.
			io.WriteString(cw, `{"jsonrpc":"2.0","id":"open","method":"resources/list"}`+"\n")
			for i := range lone {
				io.WriteString(cw, call(strconv.Itoa(100+i)))
				if got := inLoop(1); len(got) != 1 || got[0] {
					t.Fatalf("call %d, overlapping a request in flight: judged on the read loop %v, want [false]", i+1, got)
				}
			}
		})
	}
}

// TestMessagesWaitForALoneCallsStore: a call judged on the read loop
// holds the messages the client sends meanwhile until the store answers,
// and loses none of them: the ping sent while the call's store was slow is
// answered after the call. A store that was slow is not trusted again at
// once: the calls after it are handed off until enough came alone.
func TestMessagesWaitForALoneCallsStore(t *testing.T) {
	// Slow is what the held call is (50 ms and more below), not what a
	// loaded test machine makes of a lone call now and then.
	t.Cleanup(proxy.SetSlowStore(20 * time.Millisecond))
	g := &stackGate{Gate: gate.New(manyAMinute(t)), release: make(chan struct{})}
	g.Store = blockingStore{memstore.New()}
	cw, answers := echoSession(t, g, `ping => {"jsonrpc":"2.0","id":{{id}},"result":{}}`)
	release := sync.OnceFunc(func() { close(g.release) })
	t.Cleanup(release) // first: a failed test does not hang on its held call
	call := func(id string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"echo","arguments":{}}}` + "\n"
	}
	next := func() string {
		t.Helper()
		select {
		case a := <-answers:
			return a
		case <-time.After(5 * time.Second):
			t.Fatal("no answer")
			return ""
		}
	}
	for i := range 12 {
		io.WriteString(cw, call(strconv.Itoa(i+1)))
		next()
	}
	// The held call is judged on the read loop: the ping waits behind it.
	io.WriteString(cw, call(`"h1"`))
	mcptest.Eventually(t, 5*time.Second, func() bool { return g.held.Load() == 1 }, "the call to be held")
	if in := g.judged(); !in[len(in)-1] {
		t.Fatal("the held call, after twelve lone ones, was not judged on the read loop")
	}
	// (From a goroutine: a write to an io.Pipe waits for its reader, which
	// a pipe to a process does not.)
	go io.WriteString(cw, `{"jsonrpc":"2.0","id":"p","method":"ping"}`+"\n")
	select {
	case a := <-answers:
		t.Fatalf("answered while the store held the read loop: %s", a)
	case <-time.After(50 * time.Millisecond):
	}
	release()
	got := []string{next(), next()}
	slices.Sort(got)
	if want := []string{`{"jsonrpc":"2.0","id":"h1","result":{"content":[]}}`, `{"jsonrpc":"2.0","id":"p","result":{}}`}; !slices.Equal(got, want) {
		t.Fatalf("answers %q, want %q", got, want)
	}
	io.WriteString(cw, call("100"))
	next()
	if in := g.judged(); len(in) != 1 || in[0] {
		t.Errorf("the call after the slow store: judged on the read loop %v, want [false]", in)
	}
}

// TestBusyJudgeGoroutineHoldsNoCall: while a call is held being judged (a
// person asked), the next call on a store that may block is judged on
// another goroutine and answered first, and the process (on the one
// processor procs.Limit chose) is lent a second one; calls beyond the
// judge goroutines the process keeps are all judged at once too.
func TestBusyJudgeGoroutineHoldsNoCall(t *testing.T) {
	var procsMu sync.Mutex
	var procsSet []int
	procs.Limit(func(n int) int {
		procsMu.Lock()
		defer procsMu.Unlock()
		procsSet = append(procsSet, n)
		return 0
	}, 1)
	// A lend from an earlier run of this test (-count) ends first.
	lastIsOne := func() bool {
		procsMu.Lock()
		defer procsMu.Unlock()
		return len(procsSet) > 0 && procsSet[len(procsSet)-1] == 1
	}
	for deadline := time.Now().Add(10 * time.Second); !lastIsOne(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("procs.Limit did not choose one processor")
		}
	}
	procsMu.Lock()
	mark := len(procsSet)
	procsMu.Unlock()
	lentTwo := func() bool {
		procsMu.Lock()
		defer procsMu.Unlock()
		return slices.Contains(procsSet[mark:], 2)
	}
	pol := manyAMinute(t)
	g := &stackGate{Gate: gate.New(pol), release: make(chan struct{})}
	g.Store = blockingStore{memstore.New()}
	cw, answers := echoSession(t, g)
	release := sync.OnceFunc(func() { close(g.release) })
	t.Cleanup(release) // first: a failed test does not hang on its held calls
	call := func(id string) string {
		return `{"jsonrpc":"2.0","id":` + id + `,"method":"tools/call","params":{"name":"echo","arguments":{}}}` + "\n"
	}
	go io.WriteString(cw, call(`"h0"`)+call("2"))
	select {
	case got := <-answers:
		if want := `{"jsonrpc":"2.0","id":2,"result":{"content":[]}}`; got != want {
			t.Fatalf("first answer %s, want %s", got, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("call 2 waited for the held call's judgement")
	}
	// Call 2 was handed off while h0 was being judged.
	lent := false
	for deadline := time.Now().Add(5 * time.Second); !lent && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		lent = lentTwo()
	}
	if !lent {
		t.Error("a call was handed off while another was being judged, and no processor was lent (procs.Busy)")
	}
	// Held calls take every judge goroutine the process keeps, and more:
	// each is judged at once all the same.
	var more strings.Builder
	for i := range 16 {
		more.WriteString(call(`"h` + strconv.Itoa(i+1) + `"`))
	}
	go io.WriteString(cw, more.String())
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if inJudgement := g.held.Load(); inJudgement == 17 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%d of 17 held calls are being judged", inJudgement)
		}
	}
	release()
	for i := range 17 {
		select {
		case got := <-answers:
			if !strings.Contains(got, `"result":{"content":[]}`) {
				t.Fatalf("answer %s", got)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of the 17 held calls were answered", i)
		}
	}
}

// barrierGate holds each call it judges until as many calls as the round
// asks for are being judged at once, so that each is judged on a goroutine
// of its own, and notes the goroutine of each judgement.
type barrierGate struct {
	*gate.Gate
	mu         sync.Mutex
	want, in   int
	open       chan struct{}
	goroutines []string
}

func (g *barrierGate) round(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.want, g.in, g.open, g.goroutines = n, 0, make(chan struct{}), nil
}

func (g *barrierGate) Judge(ctx context.Context, c *proxy.Call) proxy.Ruling {
	buf := make([]byte, 64)
	id, _, _ := strings.Cut(string(buf[:runtime.Stack(buf, false)]), " [")
	g.mu.Lock()
	g.goroutines = append(g.goroutines, id)
	g.in++
	open := g.open
	if g.in == g.want {
		close(open)
	}
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
	}
	return g.Gate.Judge(ctx, c)
}

// TestJudgeGoroutinesAreKept: the goroutines that judge calls off the read
// loop (a store that may block) are kept for the next calls of the
// process, its other sessions' too, up to as many as a client usually
// keeps in flight, instead of a fresh one (whose stack grows again) per
// call; calls beyond them are still judged at once, each on a goroutine of
// its own.
func TestJudgeGoroutinesAreKept(t *testing.T) {
	pol := manyAMinute(t)
	g := &barrierGate{Gate: gate.New(pol)}
	g.Store = blockingStore{memstore.New()}
	// session starts a session and returns its round: n calls sent
	// together, judged together, answered; it returns the goroutines
	// they were judged on.
	session := func() func(n int) []string {
		cw, answers := echoSession(t, g)
		next := 0
		return func(n int) []string {
			t.Helper()
			g.round(n)
			var b strings.Builder
			for range n {
				next++
				b.WriteString(`{"jsonrpc":"2.0","id":` + strconv.Itoa(next) + `,"method":"tools/call","params":{"name":"echo","arguments":{}}}` + "\n")
			}
			go io.WriteString(cw, b.String())
			for i := range n {
				select {
				case got := <-answers:
					if !strings.Contains(got, `"result":{"content":[]}`) {
						t.Fatalf("answer %d: %s", i, got)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%d of %d calls judged together were answered", i, n)
				}
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			return slices.Clone(g.goroutines)
		}
	}
	// More calls at once than the goroutines kept: all are judged together.
	first := session()(20)
	if distinct := len(slices.Compact(slices.Sorted(slices.Values(first)))); distinct != 20 {
		t.Fatalf("20 calls judged together on %d goroutines", distinct)
	}
	time.Sleep(50 * time.Millisecond) // the kept ones wait for work again
	// Another session's calls.
	second := session()(16)
	kept := 0
	for _, id := range second {
		if slices.Contains(first, id) {
			kept++
		}
	}
	// Each of the 16 is kept; a judge still on its way back from the
	// first round may miss a call, which then gets a goroutine of its own.
	if kept < 12 {
		t.Errorf("%d of 16 calls were judged on goroutines kept from the calls before, want at least 12", kept)
	}
}
