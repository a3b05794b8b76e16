package otel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// Exporter sends finished spans to an OTLP/HTTP collector as JSON
// (POST to the traces endpoint, Content-Type application/json), in
// batches, from a goroutine of its own. A span handed to it waits in a
// bounded queue; when the queue is full the span is dropped and counted,
// so that a slow or unreachable collector never holds up a call.
type Exporter struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
	queue  chan *Span
	stop   chan struct{} // closed by Shutdown
	done   chan struct{} // closed when loop returns
	// run bounds every export; Shutdown cancels it when its own context
	// ends first.
	run       context.Context
	cancelRun context.CancelFunc
	closing   atomic.Bool
	once      sync.Once
	// prefix is the request body up to the spans: resource and scope.
	prefix []byte

	exported, dropped, failed atomic.Int64
}

// Stats counts spans: sent to the collector (and accepted by it), dropped
// because the queue was full or the exporter was shut down, and lost
// because the collector refused them or could not be reached.
type Stats struct{ Exported, Dropped, Failed int64 }

// NewExporter starts an exporter for cfg (see FromEnv). Shutdown stops it.
func NewExporter(cfg Config, logger *slog.Logger) *Exporter {
	cfg.defaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	e := &Exporter{
		cfg:    cfg,
		client: &http.Client{Timeout: cfg.Timeout},
		log:    logger,
		queue:  make(chan *Span, cfg.QueueSize),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	e.run, e.cancelRun = context.WithCancel(context.Background())
	e.prefix = e.appendPrefix(nil)
	go e.loop()
	return e
}

// Stats returns the exporter's counts so far.
func (e *Exporter) Stats() Stats {
	return Stats{Exported: e.exported.Load(), Dropped: e.dropped.Load(), Failed: e.failed.Load()}
}

func (e *Exporter) enqueue(s *Span) {
	if e.closing.Load() {
		e.dropped.Add(1)
		return
	}
	select {
	case e.queue <- s:
	default:
		e.dropped.Add(1)
	}
}

// Shutdown sends what is queued and stops the exporter. It returns when
// everything is sent or when ctx ends, whichever comes first (what is then
// unsent is lost and counted as failed); it waits for the exporter's
// goroutine either way. Later calls return nil at once.
func (e *Exporter) Shutdown(ctx context.Context) error {
	err := error(nil)
	e.once.Do(func() {
		e.closing.Store(true)
		close(e.stop)
		defer e.cancelRun()
		select {
		case <-e.done:
		case <-ctx.Done():
			e.cancelRun() // abandon the export in flight and what is left
			<-e.done
			err = fmt.Errorf("shut down the span exporter: %w", context.Cause(ctx))
		}
	})
	return err
}

func (e *Exporter) loop() {
	defer close(e.done)
	tick := time.NewTicker(e.cfg.Delay)
	defer tick.Stop()
	batch := make([]*Span, 0, e.cfg.BatchSize)
	send := func() {
		if len(batch) > 0 {
			e.export(e.run, batch)
			clear(batch)
			batch = batch[:0]
		}
	}
	for {
		select {
		case s := <-e.queue:
			batch = append(batch, s)
			if len(batch) == e.cfg.BatchSize {
				send()
			}
		case <-tick.C:
			send()
		case <-e.stop:
			for {
				select {
				case s := <-e.queue:
					batch = append(batch, s)
					if len(batch) == e.cfg.BatchSize {
						send()
					}
					continue
				default:
				}
				break
			}
			send()
			return
		}
	}
}

// export posts one batch, retrying twice what the collector asks to be
// retried (429, 502, 503, 504) or could not reach, within ctx.
func (e *Exporter) export(ctx context.Context, spans []*Span) {
	body := e.encode(spans)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * 250 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				attempt = 3
				continue
			case <-t.C:
			}
		}
		var retry bool
		retry, err = e.post(ctx, body)
		if err == nil {
			e.exported.Add(int64(len(spans)))
			return
		}
		if !retry || ctx.Err() != nil {
			break
		}
	}
	e.failed.Add(int64(len(spans)))
	e.log.Warn("otlp: spans not exported", "spans", len(spans), "err", err)
}

func (e *Exporter) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("post spans: %w", err)
	}
	for k, v := range e.cfg.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, fmt.Errorf("post spans: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode == 429 || resp.StatusCode == 502 || resp.StatusCode == 503 || resp.StatusCode == 504:
		return true, fmt.Errorf("post spans: %w: %s", errRefused, resp.Status)
	}
	return false, fmt.Errorf("post spans: %w: %s", errRefused, resp.Status)
}

var errRefused = errors.New("collector refused the spans")

// appendPrefix writes the start of an ExportTraceServiceRequest in the
// OTLP JSON encoding, up to the spans array of the one scope.
func (e *Exporter) appendPrefix(b []byte) []byte {
	b = append(b, `{"resourceSpans":[{"resource":{"attributes":`...)
	b = appendAttrs(b, e.cfg.Resource)
	b = append(b, `},"scopeSpans":[{"scope":{"name":"tollgate"},"spans":[`...)
	return b
}

// encode writes spans as an ExportTraceServiceRequest in the OTLP JSON
// encoding: ids in lowercase hex, enums as numbers, 64-bit integers as
// decimal strings, field names in lowerCamelCase.
func (e *Exporter) encode(spans []*Span) []byte {
	b := make([]byte, 0, len(e.prefix)+len(spans)*512)
	b = append(b, e.prefix...)
	for i, s := range spans {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSpan(b, s)
	}
	return append(b, "]}]}]}"...)
}

func appendSpan(b []byte, s *Span) []byte {
	b = append(b, `{"traceId":"`...)
	b = append(b, s.ctx.TraceID.String()...)
	b = append(b, `","spanId":"`...)
	b = append(b, s.ctx.SpanID.String()...)
	b = append(b, '"')
	if s.parent.IsValid() {
		b = append(b, `,"parentSpanId":"`...)
		b = append(b, s.parent.String()...)
		b = append(b, '"')
	}
	if s.ctx.State != "" {
		b = append(b, `,"traceState":`...)
		b = jsonrpc.AppendString(b, s.ctx.State)
	}
	// Trace flags in the low byte; bit 8 says whether the parent is
	// remote is known, bit 9 that it is.
	flags := uint32(s.ctx.Flags) | 0x100
	if s.remoteParent {
		flags |= 0x200
	}
	b = append(b, `,"flags":`...)
	b = strconv.AppendUint(b, uint64(flags), 10)
	b = append(b, `,"name":`...)
	b = jsonrpc.AppendString(b, s.name)
	b = append(b, `,"kind":`...)
	b = strconv.AppendUint(b, uint64(s.kind), 10)
	b = append(b, `,"startTimeUnixNano":"`...)
	b = strconv.AppendInt(b, s.start.UnixNano(), 10)
	b = append(b, `","endTimeUnixNano":"`...)
	b = strconv.AppendInt(b, s.end.UnixNano(), 10)
	b = append(b, `","attributes":`...)
	b = appendAttrs(b, s.attrs)
	if s.status != StatusUnset {
		b = append(b, `,"status":{"code":`...)
		b = strconv.AppendUint(b, uint64(s.status), 10)
		if s.message != "" {
			b = append(b, `,"message":`...)
			b = jsonrpc.AppendString(b, s.message)
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendAttrs(b []byte, attrs []Attr) []byte {
	b = append(b, '[')
	for i, a := range attrs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"key":`...)
		b = jsonrpc.AppendString(b, a.Key)
		switch a.kind {
		case 1:
			b = append(b, `,"value":{"intValue":"`...)
			b = strconv.AppendInt(b, a.num, 10)
			b = append(b, `"}}`...)
		case 2:
			b = append(b, `,"value":{"boolValue":`...)
			b = strconv.AppendBool(b, a.num != 0)
			b = append(b, `}}`...)
		default:
			b = append(b, `,"value":{"stringValue":`...)
			b = jsonrpc.AppendString(b, a.str)
			b = append(b, `}}`...)
		}
	}
	return append(b, ']')
}
