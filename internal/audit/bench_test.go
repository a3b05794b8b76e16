package audit

import (
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/event"
)

// BenchmarkRecord measures what a call pays: copying the event onto the
// writer's queue. The writer runs concurrently; drops are reported.
func BenchmarkRecord(b *testing.B) {
	l, err := Open(Options{Dir: b.TempDir(), Buffer: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	ev := event.Event{Time: time.Now(), Session: "s", Tool: "send_email", Decision: "allow", Outcome: "ok",
		Args: []byte(`{"to":"bob@example.com","subject":"hello","body":"a short message body"}`), Latency: time.Millisecond}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.Record(ev)
	}
	b.StopTimer()
	l.Close()
	b.ReportMetric(float64(l.Stats().Dropped), "dropped")
}

// benchWriter returns a Log whose writer goroutine is not running, so
// that the benchmark can drive it; cleanup starts it to close the Log.
func benchWriter(b *testing.B) *Log {
	l, err := newLog(Options{Dir: b.TempDir(), Buffer: maxGroupLines})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		go l.run()
		l.Close()
	})
	return l
}

func benchItem(l *Log) item {
	return item{cfg: l.cfg.Load(), args: []byte(`{"to":"bob@example.com","subject":"hello","body":"a short message body","n":12.50}`),
		rec: Record{Time: time.Now(), Event: KindCall, Session: "9d2c51f0", Identity: "alice", Tool: "send_email",
			Decision: "allow", Outcome: "ok", LatencyMS: 182.4, Policy: "38abfbc2e1d0c3b5a2f4e6d8c0b2a4f6e8d0c2b4a6f8e0d2c4b6a8f0e2d4c6b8"}}
}

// BenchmarkWrite measures the writer per line at steady state, when lines
// queue faster than the disk takes them: the queue receive, canonical
// hash, encoding, chaining, and a share of one write per group.
func BenchmarkWrite(b *testing.B) {
	l := benchWriter(b)
	it := benchItem(l)
	b.ReportAllocs()
	for b.Loop() {
		it.rec.Time = time.Now()
		x := newItem()
		x.rec, x.cfg, x.args = it.rec, it.cfg, append(x.args, it.args...)
		l.ch <- x
		if len(l.ch) == cap(l.ch) {
			l.writeQueued(<-l.ch)
		}
	}
	for len(l.ch) > 0 {
		l.writeQueued(<-l.ch)
	}
}

// BenchmarkWriteOne measures the writer per line when it is idle between
// lines: every line is a group, and a write, of its own.
func BenchmarkWriteOne(b *testing.B) {
	l := benchWriter(b)
	it := benchItem(l)
	b.ReportAllocs()
	for b.Loop() {
		it.rec.Time = time.Now()
		x := newItem()
		x.rec, x.cfg, x.args = it.rec, it.cfg, append(x.args, it.args...)
		l.writeQueued(x)
	}
}

// BenchmarkArgsHash measures the canonical hash of a call's arguments.
func BenchmarkArgsHash(b *testing.B) {
	args := []byte(`{"to":"bob@example.com","subject":"hello","body":"a short message body","n":12.50,"tags":["a","b"],"opts":{"z":1,"a":true}}`)
	var c canonicalizer
	var h [64]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.appendHash(h[:0], args); err != nil {
			b.Fatal(err)
		}
	}
}
