package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/audit"
	"github.com/tollgate-mcp/tollgate/internal/bench/echo"
	"github.com/tollgate-mcp/tollgate/internal/bench/load"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	tp "github.com/tollgate-mcp/tollgate/internal/transport"
	stdiot "github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

// fixturePath is the 323-tool list, relative to this package.
var fixturePath = filepath.Join("..", "..", "testdata", "fusionauth-tools.json")

// pipeline is an in-process echo server, optionally behind Tollgate's pump
// and gate, reached over io.Pipe pairs as a stdio client reaches it.
type pipeline struct {
	w    *jsonrpc.Writer
	r    *jsonrpc.Reader
	in   io.Closer
	stop func()
}

// newPipeline starts the echo server (with tools from toolsFile, or the
// default list) and, when g is not nil, the pump in front of it.
func newPipeline(tb testing.TB, toolsFile string, g proxy.Gate) *pipeline {
	tb.Helper()
	srv, err := echo.New(echo.Options{ToolsFile: toolsFile})
	if err != nil {
		tb.Fatal(err)
	}
	toServerR, toServerW := io.Pipe()
	fromServerR, fromServerW := io.Pipe()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = srv.ServeStdio(toServerR, fromServerW)
		fromServerW.Close()
	}()
	p := &pipeline{}
	if g == nil {
		p.w, p.r, p.in = jsonrpc.NewWriter(toServerW), jsonrpc.NewReader(fromServerR, 0), toServerW
		p.stop = func() { toServerW.Close(); wg.Wait() }
		return p
	}
	toProxyR, toProxyW := io.Pipe()
	fromProxyR, fromProxyW := io.Pipe()
	h := proxy.NewHandler(g, nil)
	ctx, cancel := context.WithCancel(context.Background())
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = h.Serve(ctx, &tp.Session{ID: "bench"}, stdiot.NewConn(toProxyR, fromProxyW, 0), stdiot.NewConn(fromServerR, toServerW, 0))
		fromProxyW.Close()
	}()
	p.w, p.r, p.in = jsonrpc.NewWriter(toProxyW), jsonrpc.NewReader(fromProxyR, 0), toProxyW
	p.stop = func() {
		toProxyW.Close()
		// Drain what the pump may still write so it can finish.
		go func() { _, _ = io.Copy(io.Discard, fromProxyR) }()
		cancel()
		wg.Wait()
	}
	return p
}

// drive sends n requests keeping inflight of them outstanding and checks
// every answer. Requests are written by one goroutine and answers read by
// another: io.Pipe has no buffer, so one goroutine doing both would
// deadlock against the pump.
func (p *pipeline) drive(n, inflight int, w load.Workload) error {
	tokens := make(chan struct{}, inflight)
	for range inflight {
		tokens <- struct{}{}
	}
	werr := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			<-tokens
			if err := p.w.Write(w.Request(int64(i))); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	for range n {
		frame, err := p.r.Next()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		m, err := jsonrpc.Parse(frame, false)
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(string(m.ID), 10, 64)
		if err != nil {
			return fmt.Errorf("answer id %s: %w", m.ID, err)
		}
		if err := w.Check(id, frame); err != nil {
			return err
		}
		tokens <- struct{}{}
	}
	return <-werr
}

func mustPolicy(tb testing.TB, yaml string) *policy.Policy {
	tb.Helper()
	p, err := policy.Load("bench.yaml", []byte(yaml))
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// gates are the pump configurations compared with a direct connection.
func gates(tb testing.TB) []struct {
	name string
	make func() proxy.Gate
} {
	return []struct {
		name string
		make func() proxy.Gate
	}{
		{"direct", func() proxy.Gate { return nil }},
		{"empty", func() proxy.Gate { return gate.New(mustPolicy(tb, policyEmpty)) }},
		{"conditions", func() proxy.Gate { return gate.New(mustPolicy(tb, policyConditions)) }},
		{"inspect", func() proxy.Gate { return gate.New(mustPolicy(tb, policyInspect)) }},
		{"empty-audit", func() proxy.Gate {
			// As tollgate run: every call's line written to an audit log.
			g := gate.New(mustPolicy(tb, policyEmpty))
			l, err := audit.Open(audit.Options{Dir: tb.TempDir()})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { l.Close() })
			g.Recorder = l
			return g
		}},
		{"limits-memory", func() proxy.Gate {
			g := gate.New(mustPolicy(tb, policyLimits))
			g.Store = memstore.New()
			return g
		}},
	}
}

// BenchmarkPump drives echo calls through the in-process pump with each gate,
// at 1 and 16 in flight. The direct run of each level is timed first; the
// others report x-direct, their time per call over the direct one.
func BenchmarkPump(b *testing.B) {
	for _, inflight := range []int{1, 16} {
		var direct float64
		for _, g := range gates(b) {
			b.Run(fmt.Sprintf("inflight=%d/%s", inflight, g.name), func(b *testing.B) {
				p := newPipeline(b, "", g.make())
				defer p.stop()
				w := workload(workEcho, 0)
				b.ReportAllocs()
				b.ResetTimer()
				if err := p.drive(b.N, inflight, w); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				perOp := float64(b.Elapsed()) / float64(b.N)
				if g.name == "direct" {
					direct = perOp
				} else if direct > 0 {
					b.ReportMetric(perOp/direct, "x-direct")
				}
			})
		}
	}
}

// BenchmarkToolsList lists the 323-tool fixture directly, through the pump,
// and through the pump hiding 300 tools.
func BenchmarkToolsList(b *testing.B) {
	names, err := fixtureNames(fixturePath)
	if err != nil {
		b.Skip(err)
	}
	var direct float64
	for _, c := range []struct {
		name  string
		gate  proxy.Gate
		tools int
	}{
		{"direct", nil, len(names)},
		{"empty", gate.New(mustPolicy(b, policyEmpty)), len(names)},
		{"hide300", gate.New(mustPolicy(b, hidePolicy(names))), len(names) - hiddenCount},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := newPipeline(b, fixturePath, c.gate)
			defer p.stop()
			b.ReportAllocs()
			b.ResetTimer()
			if err := p.drive(b.N, 1, workload(workList, c.tools)); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			perOp := float64(b.Elapsed()) / float64(b.N)
			if c.gate == nil {
				direct = perOp
			} else if direct > 0 {
				b.ReportMetric(perOp/direct, "x-direct")
			}
		})
	}
}

// BenchmarkBigResult relays the 1 MiB result directly and through the pump.
func BenchmarkBigResult(b *testing.B) {
	var direct float64
	for _, g := range gates(b)[:2] {
		b.Run(g.name, func(b *testing.B) {
			p := newPipeline(b, "", g.make())
			defer p.stop()
			b.SetBytes(echo.BigSize)
			b.ReportAllocs()
			b.ResetTimer()
			if err := p.drive(b.N, 1, workload(workBig, 0)); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			perOp := float64(b.Elapsed()) / float64(b.N)
			if g.name == "direct" {
				direct = perOp
			} else if direct > 0 {
				b.ReportMetric(perOp/direct, "x-direct")
			}
		})
	}
}

// TestPipelines checks that every configuration the micro-benchmarks use
// answers correctly, so that a benchmark never measures a broken path.
func TestPipelines(t *testing.T) {
	for _, g := range gates(t) {
		for _, inflight := range []int{1, 16} {
			t.Run(fmt.Sprintf("%s/%d", g.name, inflight), func(t *testing.T) {
				p := newPipeline(t, "", g.make())
				defer p.stop()
				if err := p.drive(200, inflight, workload(workEcho, 0)); err != nil {
					t.Fatal(err)
				}
				if err := p.drive(2, 1, workload(workBig, 0)); err != nil {
					t.Fatal(err)
				}
			})
		}
	}
	names, err := fixtureNames(fixturePath)
	if err != nil {
		t.Skip(err)
	}
	p := newPipeline(t, fixturePath, gate.New(mustPolicy(t, hidePolicy(names))))
	defer p.stop()
	if err := p.drive(3, 1, workload(workList, len(names)-hiddenCount)); err != nil {
		t.Fatal(err)
	}
	// The check is not a formality: a list with the wrong count fails it.
	err = p.drive(1, 1, workload(workList, len(names)))
	if err == nil {
		t.Fatal("a tools/list answer with 23 tools passed a check for 323")
	}
}

// TestWrongAnswerFails proves that load.Run stops at a wrong answer: the
// smoke benchmark relies on it to fail rather than time a broken proxy.
func TestWrongAnswerFails(t *testing.T) {
	w := workload(workEcho, 0)
	c := &fakeClient{answer: func(id int64) []byte {
		return fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"result":{"content":[{"type":"text","text":"not the echo"}]}}`, id)
	}}
	_, err := load.Run(context.Background(), c, w, load.Options{InFlight: 4, Duration: time.Second})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("wrong answer")) {
		t.Fatalf("Run with wrong answers returned %v, want a wrong-answer error", err)
	}
	c = &fakeClient{answer: func(id int64) []byte {
		return load.Call(id, "x", nil)[:0] // empty: unreadable
	}}
	if _, err := load.Run(context.Background(), c, w, load.Options{InFlight: 1, Duration: time.Second}); err == nil {
		t.Fatal("Run with unreadable answers succeeded")
	}
	c = &fakeClient{err: errors.New("broken pipe")}
	if _, err := load.Run(context.Background(), c, w, load.Options{InFlight: 2, Duration: time.Second}); err == nil {
		t.Fatal("Run with failing calls succeeded")
	}
	ok := &fakeClient{answer: func(id int64) []byte {
		return jsonrpc.AppendResult(nil, strconv.AppendInt(nil, id, 10),
			append(append([]byte(`{"content":[{"type":"text","text":`), echo.EchoText(echoArgs(id))...), "}]}"...))
	}}
	res, err := load.Run(context.Background(), ok, w, load.Options{InFlight: runtime.GOMAXPROCS(0), Warmup: 10 * time.Millisecond, Duration: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Run with right answers: %v", err)
	}
	if res.Calls == 0 || res.Latency.Count() != res.Calls {
		t.Fatalf("Run measured %d calls, histogram %d", res.Calls, res.Latency.Count())
	}
}

type fakeClient struct {
	answer func(id int64) []byte
	err    error
}

func (f *fakeClient) Do(_ context.Context, id int64, _ []byte) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.answer(id), nil
}
func (f *fakeClient) Notify(context.Context, []byte) error { return nil }
func (f *fakeClient) Close() error                         { return nil }
