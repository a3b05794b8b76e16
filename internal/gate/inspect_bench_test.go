package gate

import (
	"context"
	"fmt"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/audit"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// The policies of internal/bench's rows "stdio, empty policy" and "stdio,
// inspect arguments and results".
const (
	benchPolicyEmpty   = "version: \"1\"\n"
	benchPolicyInspect = `version: "1"
inspect:
  "*":
    arguments: {secret: redact, pii: deny}
    results: {secret: redact, pii: redact, injection: fence}
`
)

// BenchmarkEchoCall is the gate's part of one call of the bench rows:
// Judge, the ticket's result filter and Done, for the echo tool's
// arguments and its answer (the arguments as text), under the empty policy
// and under the inspect policy, without and with an audit log (as tollgate
// run keeps one). What inspect adds is the difference of the two.
func BenchmarkEchoCall(b *testing.B) {
	for _, c := range []struct{ name, policy string }{{"empty", benchPolicyEmpty}, {"inspect", benchPolicyInspect}} {
		for _, audited := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/audit=%v", c.name, audited), func(b *testing.B) {
				p, err := policy.Load("bench.yaml", []byte(c.policy))
				if err != nil {
					b.Fatal(err)
				}
				g := New(p)
				if audited {
					l, err := audit.Open(audit.Options{Dir: b.TempDir()})
					if err != nil {
						b.Fatal(err)
					}
					defer l.Close()
					g.Recorder = l
				}
				s := &transport.Session{ID: "bench"}
				ctx := context.Background()
				var id int64
				b.ReportAllocs()
				for b.Loop() {
					id++
					idb := fmt.Appendf(nil, "%d", id)
					args := fmt.Appendf(nil, `{"message":"hello world","n":%d,"kind":"a","amount":0.5}`, id)
					result := fmt.Appendf(nil, `{"content":[{"type":"text","text":"{\"message\":\"hello world\",\"n\":%d,\"kind\":\"a\",\"amount\":0.5}"}]}`, id)
					frame := fmt.Appendf(nil, `{"jsonrpc":"2.0","id":%d,"result":%s}`, id, result)
					r := g.Judge(ctx, &proxy.Call{Session: s, ID: idb, Tool: "echo", Args: args})
					if r.Answer != nil || r.Ticket == nil || r.Args != nil {
						b.Fatalf("ruling %+v", r)
					}
					if f, ok := r.Ticket.(proxy.ResultFilter); ok {
						if out := f.FilterResult(idb, frame, result); string(out) != string(frame) {
							b.Fatalf("filtered %s", out)
						}
					}
					r.Ticket.Done(proxy.End{Result: result})
				}
			})
		}
	}
}
