package otel

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"strings"
	"sync"
	"time"
)

// Kind is a span's OTLP kind.
type Kind uint8

// Span kinds, numbered as in OTLP.
const (
	KindInternal Kind = 1
	KindServer   Kind = 2
	KindClient   Kind = 3
)

// StatusCode is a span's OTLP status code.
type StatusCode uint8

// Status codes, numbered as in OTLP.
const (
	StatusUnset StatusCode = 0
	StatusOK    StatusCode = 1
	StatusError StatusCode = 2
)

// Attr is one span attribute: a string, an int64 or a bool value.
type Attr struct {
	Key  string
	kind uint8 // 0 string, 1 int, 2 bool
	str  string
	num  int64
}

// String returns a string attribute.
func String(key, value string) Attr { return Attr{Key: key, str: value} }

// Int returns an integer attribute.
func Int(key string, value int64) Attr { return Attr{Key: key, kind: 1, num: value} }

// Bool returns a boolean attribute.
func Bool(key string, value bool) Attr {
	a := Attr{Key: key, kind: 2}
	if value {
		a.num = 1
	}
	return a
}

// Value returns the attribute's value as a string, an int64 or a bool.
func (a Attr) Value() any {
	switch a.kind {
	case 1:
		return a.num
	case 2:
		return a.num != 0
	}
	return a.str
}

// Span is one timed operation. A Span is used by one goroutine at a time
// until End; End may be called once (later calls do nothing).
type Span struct {
	tr     *Tracer
	ctx    SpanContext
	parent SpanID
	// remoteParent: the parent came from another process.
	remoteParent bool
	name         string
	kind         Kind
	start, end   time.Time
	attrs        []Attr
	status       StatusCode
	message      string
	ended        bool
}

// Context returns the span's own context: what a child, or the next
// process, names as its parent.
func (s *Span) Context() SpanContext { return s.ctx }

// Recording reports whether the span will be exported (it was sampled).
func (s *Span) Recording() bool { return s.ctx.Sampled() }

// SetAttr adds attributes.
func (s *Span) SetAttr(attrs ...Attr) {
	if s.Recording() {
		s.attrs = s.tr.appendAttrs(s.attrs, attrs)
	}
}

// appendAttrs appends attrs with string values cut to the tracer's limit.
// A value cut is copied, so that a span never keeps a client's large
// string alive while it waits in the export queue.
func (t *Tracer) appendAttrs(dst, attrs []Attr) []Attr {
	for _, a := range attrs {
		if a.kind == 0 && len(a.str) > t.limit() {
			a.str = strings.Clone(a.str[:t.limit()])
		}
		dst = append(dst, a)
	}
	return dst
}

func (t *Tracer) limit() int {
	if t.AttrLimit > 0 {
		return t.AttrLimit
	}
	return DefaultAttrLimit
}

// SetStatus sets the span's status; message is kept for StatusError only,
// as OTLP asks.
func (s *Span) SetStatus(code StatusCode, message string) {
	s.status = code
	if code == StatusError {
		s.message = message
	}
}

// SetName renames the span.
func (s *Span) SetName(name string) {
	if len(name) > s.tr.limit() {
		name = strings.Clone(name[:s.tr.limit()])
	}
	s.name = name
}

// End ends the span now and hands it to the exporter when it was sampled.
// It never blocks: a full export queue drops the span.
func (s *Span) End() { s.EndAt(s.tr.now()) }

// EndAt ends the span at t.
func (s *Span) EndAt(t time.Time) {
	if s.ended {
		return
	}
	s.ended = true
	s.end = t
	if s.Recording() && s.tr.exp != nil {
		s.tr.exp.enqueue(s)
	}
}

// Tracer starts spans. A nil *Tracer is tracing turned off.
type Tracer struct {
	exp     *Exporter
	sampler Sampler
	// AttrLimit is the longest string attribute value kept, in bytes
	// (OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT); 0 means DefaultAttrLimit. Span
	// names are cut to it too.
	AttrLimit int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultAttrLimit bounds string attribute values and span names when no
// limit is configured: the values come from clients, and a span waits in a
// queue of thousands.
const DefaultAttrLimit = 1024

// NewTracer returns a tracer sampling with s and exporting through exp
// (nil: spans are made, sampled and propagated, but sent nowhere).
func NewTracer(exp *Exporter, s Sampler) *Tracer {
	return &Tracer{exp: exp, sampler: s}
}

func (t *Tracer) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Start starts a span whose parent is parent (the zero SpanContext: a new
// trace). The sampler decides whether a trace is recorded; a child span
// inherits its parent's decision through the sampled flag whatever the
// sampler.
func (t *Tracer) Start(parent SpanContext, name string, kind Kind, attrs ...Attr) *Span {
	if len(name) > t.limit() {
		name = strings.Clone(name[:t.limit()])
	}
	s := &Span{tr: t, name: name, kind: kind, start: t.now()}
	if parent.IsValid() {
		s.ctx.TraceID, s.ctx.State = parent.TraceID, parent.State
		s.parent, s.remoteParent = parent.SpanID, parent.Remote
	} else {
		s.ctx.TraceID = newTraceID()
	}
	s.ctx.SpanID = newSpanID()
	if t.sampler.sample(parent, s.ctx.TraceID) {
		s.ctx.Flags = FlagSampled
		s.attrs = t.appendAttrs(make([]Attr, 0, len(attrs)+8), attrs)
	}
	return s
}

// Child starts a span under s, in the same process.
func (s *Span) Child(name string, kind Kind, attrs ...Attr) *Span {
	parent := s.ctx
	parent.Remote = false
	return s.tr.Start(parent, name, kind, attrs...)
}

// ids come from crypto/rand through a small buffer, so that a span costs
// one read of the system's generator per 32 spans at most.
var ids struct {
	mu  sync.Mutex
	buf [768]byte
	off int
}

func randomBytes(dst []byte) {
	ids.mu.Lock()
	if ids.off == 0 || ids.off+len(dst) > len(ids.buf) {
		_, _ = rand.Read(ids.buf[:]) // never fails (crypto/rand)
		ids.off = 0
	}
	ids.off += copy(dst, ids.buf[ids.off:])
	ids.mu.Unlock()
}

func newTraceID() TraceID {
	var t TraceID
	for !t.IsValid() {
		randomBytes(t[:])
	}
	return t
}

func newSpanID() SpanID {
	var s SpanID
	for !s.IsValid() {
		randomBytes(s[:])
	}
	return s
}

// Sampler decides which traces are recorded, as OTEL_TRACES_SAMPLER names
// them: Ratio is the share of new traces recorded (1: all, 0: none), and
// ParentBased makes a span with a parent follow the parent's sampled flag.
type Sampler struct {
	Ratio       float64
	ParentBased bool
}

// AlwaysOn records every trace unless a parent says otherwise (the
// OpenTelemetry default, parentbased_always_on).
var AlwaysOn = Sampler{Ratio: 1, ParentBased: true}

func (s Sampler) sample(parent SpanContext, trace TraceID) bool {
	if parent.IsValid() && (s.ParentBased || !parent.Remote) {
		return parent.Sampled()
	}
	switch {
	case s.Ratio >= 1:
		return true
	case s.Ratio <= 0:
		return false
	}
	// As the OpenTelemetry SDKs do: the trace id's last 8 bytes against
	// the ratio, so that every process sampling at the same ratio agrees.
	bound := uint64(s.Ratio * math.MaxInt64)
	return binary.BigEndian.Uint64(trace[8:])>>1 < bound
}
