package audit

import (
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
)

// BenchmarkRecord measures what a call pays: copying the event onto the
// writer's queue. The writer runs concurrently; drops are reported.
func BenchmarkRecord(b *testing.B) {
	l, err := Open(Options{Dir: b.TempDir(), Buffer: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	ev := gate.Event{Time: time.Now(), Session: "s", Tool: "send_email", Decision: "allow", Outcome: "ok",
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

// BenchmarkWrite measures the writer: canonical hash, encoding, chaining
// and the append, per line.
func BenchmarkWrite(b *testing.B) {
	l, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	args := []byte(`{"to":"bob@example.com","subject":"hello","body":"a short message body","n":12.50}`)
	cfg := l.cfg.Load()
	b.ReportAllocs()
	for b.Loop() {
		l.write(item{cfg: cfg, args: args, rec: Record{Time: time.Now(), Event: KindCall, Tool: "send_email", Decision: "allow"}})
	}
}
