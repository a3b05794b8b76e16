package metrics

import (
	"math"
	"strconv"
	"strings"
	"sync/atomic"
)

// The Prometheus text exposition format, version 0.0.4, for the few kinds
// of metric Tollgate has. It is written here rather than linked from
// prometheus/client_golang: that library and the protobuf runtime it brings
// cost about 2.5 MB of resident memory in every tollgate process, metrics
// on or off (see docs/performance.md).

// contentType is what Handler answers with.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// counter counts events. It is safe for concurrent use.
type counter struct{ n atomic.Uint64 }

func (c *counter) inc() { c.n.Add(1) }

// histogram counts observations in buckets with the upper bounds in upper
// (sorted, each an inclusive bound, "le") and one more for +Inf, and adds
// them up. It is safe for concurrent use; a scrape during observations may
// see the sum a little ahead or behind the counts, never the counts
// disagreeing with each other (the cumulative counts and _count are all
// derived from one read of the per-bucket counts).
type histogram struct {
	upper  []float64
	le     []string // upper formatted for the le label
	counts []atomic.Uint64
	sum    atomic.Uint64 // float64 bits
}

func newHistogram(upper []float64) *histogram {
	h := &histogram{upper: upper, counts: make([]atomic.Uint64, len(upper)+1)}
	for _, u := range upper {
		h.le = append(h.le, formatFloat(u))
	}
	return h
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.upper) && v > h.upper[i] {
		i++
	}
	h.counts[i].Add(1)
	for {
		old := h.sum.Load()
		if h.sum.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// exponentialBuckets returns n upper bounds, start and each factor times the
// one before (computed as prometheus.ExponentialBuckets does, so the le
// labels are the same as before).
func exponentialBuckets(start, factor float64, n int) []float64 {
	b := make([]float64, n)
	for i := range b {
		b[i] = start
		start *= factor
	}
	return b
}

// defBuckets are prometheus.DefBuckets: network latencies in seconds.
var defBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// textWriter appends the text format to a buffer.
type textWriter struct{ b []byte }

// family writes a metric family's HELP and TYPE lines.
func (w *textWriter) family(name, help, typ string) {
	w.b = append(w.b, "# HELP "...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = appendEscaped(w.b, help, false)
	w.b = append(w.b, "\n# TYPE "...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, typ...)
	w.b = append(w.b, '\n')
}

// name writes a sample's name and labels (pairs of name and value), up to
// the space before the value.
func (w *textWriter) name(name string, labels ...string) {
	w.b = append(w.b, name...)
	if len(labels) > 0 {
		w.b = append(w.b, '{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, labels[i]...)
			w.b = append(w.b, `="`...)
			w.b = appendEscaped(w.b, labels[i+1], true)
			w.b = append(w.b, '"')
		}
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ' ')
}

func (w *textWriter) uint(name string, v uint64, labels ...string) {
	w.name(name, labels...)
	w.b = strconv.AppendUint(w.b, v, 10)
	w.b = append(w.b, '\n')
}

func (w *textWriter) int(name string, v int64, labels ...string) {
	w.name(name, labels...)
	w.b = strconv.AppendInt(w.b, v, 10)
	w.b = append(w.b, '\n')
}

func (w *textWriter) float(name string, v float64, labels ...string) {
	w.name(name, labels...)
	w.b = appendFloat(w.b, v)
	w.b = append(w.b, '\n')
}

// histogram writes h's buckets (cumulative), _sum and _count.
func (w *textWriter) histogram(name, help string, h *histogram) {
	w.family(name, help, "histogram")
	var total uint64
	for i := range h.counts {
		total += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.le) {
			le = h.le[i]
		}
		w.uint(name+"_bucket", total, "le", le)
	}
	w.float(name+"_sum", math.Float64frombits(h.sum.Load()))
	w.uint(name+"_count", total)
}

// appendEscaped appends s escaped as the format asks: a backslash and a
// line feed in a HELP text; those and a double quote in a label value.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, +1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func formatFloat(v float64) string { return string(appendFloat(nil, v)) }

// labelValue makes s fit to be a label value: valid UTF-8 (the format
// requires it; invalid bytes become U+FFFD).
func labelValue(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }
