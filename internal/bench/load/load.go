// Package load is the benchmarks' MCP load client: it speaks stdio to a
// command it starts or streamable HTTP to a URL, keeps a fixed number of
// calls in flight, checks every answer, and records each call's latency in a
// histogram.
package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// Client is one MCP session. Do and Notify are safe for concurrent use.
type Client interface {
	// Do sends a request whose id is the number id and returns the complete
	// response (owned by the caller).
	Do(ctx context.Context, id int64, req []byte) ([]byte, error)
	// Notify sends a notification.
	Notify(ctx context.Context, msg []byte) error
	// Close ends the session.
	Close() error
}

// ProtocolVersion is the revision the client asks for.
const ProtocolVersion = "2025-06-18"

// Initialize runs the initialize handshake (id 0) and sends
// notifications/initialized.
func Initialize(ctx context.Context, c Client) error {
	req := `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` + ProtocolVersion +
		`","capabilities":{},"clientInfo":{"name":"tollgate-bench","version":"1.0.0"}}}`
	resp, err := c.Do(ctx, 0, []byte(req))
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	m, err := jsonrpc.Parse(resp, false)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	if m.Result == nil {
		return fmt.Errorf("initialize: answered %s", resp)
	}
	if err := c.Notify(ctx, []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	return nil
}

// Workload is what each call sends and what its answer must be.
type Workload struct {
	// Request returns the complete request with the number id.
	Request func(id int64) []byte
	// Check returns an error when resp is not the right answer to the
	// request with the number id.
	Check func(id int64, resp []byte) error
}

// Options shapes a run.
type Options struct {
	InFlight int           // calls kept in flight (at least 1)
	Warmup   time.Duration // calls starting before this, or before the first call has finished, are not measured
	Duration time.Duration // measured time after the warm-up
	Timeout  time.Duration // per call; 0 means 30 s
}

// Result is what a run measured.
type Result struct {
	Calls    uint64        // calls measured
	Total    uint64        // every call made, warm-up included
	Elapsed  time.Duration // measured time
	Latency  Histogram
	WallTime time.Duration // the whole run, warm-up included
}

// PerSecond is the measured throughput.
func (r *Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Calls) / r.Elapsed.Seconds()
}

// Run keeps opt.InFlight calls of w in flight on c for opt.Warmup plus
// opt.Duration and returns the measurements. The measured time starts
// after opt.Warmup, or when the first call finishes if that is later (a
// first call that does one-time work, such as a first tools/list, never
// leaves a short run with nothing measured). The first failing call (an
// error, a wrong answer or a timeout) ends the run with that error. Ids
// start at 1.
func Run(ctx context.Context, c Client, w Workload, opt Options) (*Result, error) {
	if opt.InFlight < 1 {
		opt.InFlight = 1
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 30 * time.Second
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	start := time.Now()
	var (
		next  atomic.Int64
		total atomic.Uint64
		wg    sync.WaitGroup
		mu    sync.Mutex
		res   = &Result{}
		first error
		// fromOff is when the measured time starts, after start: the
		// warm-up, moved to the end of the first call when that is later
		// (settled says it was decided, under mu).
		fromOff atomic.Int64
		settled atomic.Bool
	)
	fromOff.Store(int64(opt.Warmup))
	window := func(t1 time.Time) (from, end time.Time) {
		if !settled.Load() {
			mu.Lock()
			if !settled.Load() {
				if d := t1.Sub(start); d > opt.Warmup {
					fromOff.Store(int64(d))
				}
				settled.Store(true)
			}
			mu.Unlock()
		}
		from = start.Add(time.Duration(fromOff.Load()))
		return from, from.Add(opt.Duration)
	}
	fail := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel(err)
	}
	for range opt.InFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var h Histogram
			for ctx.Err() == nil {
				id := next.Add(1)
				req := w.Request(id)
				cctx, ccancel := context.WithTimeout(ctx, opt.Timeout)
				t0 := time.Now()
				resp, err := c.Do(cctx, id, req)
				t1 := time.Now()
				ccancel()
				if err != nil {
					if ctx.Err() == nil {
						fail(err)
					}
					break
				}
				total.Add(1)
				if err := w.Check(id, resp); err != nil {
					fail(fmt.Errorf("call %d: wrong answer: %w", id, err))
					break
				}
				measureFrom, end := window(t1)
				if t0.After(measureFrom) || t0.Equal(measureFrom) {
					if t1.After(end) {
						break
					}
					h.Record(t1.Sub(t0))
				}
				if t1.After(end) {
					break
				}
			}
			mu.Lock()
			res.Latency.Merge(&h)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	res.Calls = res.Latency.Count()
	res.Total = total.Load()
	res.Elapsed = opt.Duration
	res.WallTime = time.Since(start)
	if res.Calls == 0 {
		return nil, errors.New("no call finished in the measured time")
	}
	return res, nil
}

// Call builds a tools/call request.
func Call(id int64, tool string, args []byte) []byte {
	b := make([]byte, 0, 96+len(tool)+len(args))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"method":"tools/call","params":{"name":`...)
	b = jsonrpc.AppendString(b, tool)
	b = append(b, `,"arguments":`...)
	b = append(b, args...)
	return append(b, "}}"...)
}

// Request builds a request without params.
func Request(id int64, method string) []byte {
	b := append([]byte(`{"jsonrpc":"2.0","id":`), strconv.AppendInt(nil, id, 10)...)
	b = append(b, `,"method":`...)
	b = jsonrpc.AppendString(b, method)
	return append(b, '}')
}

// CheckID returns an error unless resp is a success response to id.
func CheckID(id int64, resp []byte) (jsonrpc.Message, error) {
	m, err := jsonrpc.Parse(resp, false)
	if err != nil {
		return m, fmt.Errorf("unreadable answer: %w", err)
	}
	if !bytes.Equal(m.ID, strconv.AppendInt(nil, id, 10)) {
		return m, fmt.Errorf("answer to id %s, want %d", m.ID, id)
	}
	if m.Error != nil {
		return m, fmt.Errorf("JSON-RPC error %s", m.Error)
	}
	if m.Result == nil {
		return m, errors.New("no result")
	}
	return m, nil
}
