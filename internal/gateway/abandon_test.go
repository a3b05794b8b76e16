package gateway_test

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/gateway"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// slowPay lists one tool, "pay"; each tools/call is counted (the payment
// is made) and answered only after a long time (never, here).
type slowPay struct {
	t    *testing.T
	paid atomic.Int64
}

func (p *slowPay) Dial(context.Context, *transport.Session) (transport.Conn, func(), error) {
	conn, tr, closeAll := pipes(p.t)
	go func() {
		sc := bufio.NewScanner(tr.Reader)
		for sc.Scan() {
			m, err := jsonrpc.Parse(sc.Bytes(), false)
			if err != nil || m.ID == nil {
				continue
			}
			switch m.Method {
			case "initialize":
				fmt.Fprintf(tr.Writer, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"pay","version":"1"}}}`+"\n", m.ID)
			case "tools/list":
				fmt.Fprintf(tr.Writer, `{"jsonrpc":"2.0","id":%s,"result":{"tools":[{"name":"pay","inputSchema":{"type":"object"}}]}}`+"\n", m.ID)
			case "tools/call":
				p.paid.Add(1) // the side effect happens; the answer is slow
			}
		}
	}()
	return conn, closeAll, nil
}

// TestGatewayAbandonKeepsTheGatewayCharge: a client that goes away while a
// slow call runs leaves its charge in place (docs/limits.md, no_response),
// in the gateway-wide policy too. Before, the gateway answered the call in
// the server's place with an error when it gave up on the session, and
// the gateway-wide gate read that as the server's failure and refunded the
// spend: two payments of 100 ran under a cap of 150.
func TestGatewayAbandonKeepsTheGatewayCharge(t *testing.T) { abandonPaid(t, true) }

// TestGatewayAbandonKeepsTheServerCharge: the same cap in the server's own
// policy.
func TestGatewayAbandonKeepsTheServerCharge(t *testing.T) { abandonPaid(t, false) }

func abandonPaid(t *testing.T, atHub bool) {
	srv := &slowPay{t: t}
	name := "*__pay"
	if !atHub {
		name = "pay"
	}
	p, err := policy.Load("hub.yaml", []byte(`version: "1"
tools:
  "`+name+`":
    rules:
      - name: spend cap
        conditions:
          - path: state.`+name+`.spent
            op: lte
            value: 150
        state:
          counter: spent
          window: day
          increment_from: args.amount
`))
	if err != nil {
		t.Fatal(err)
	}
	capGate := gate.New(p)
	capGate.Store = memstore.New()
	hub, own := capGate, allowGate(t, "version: \"1\"\n")
	if !atHub {
		hub, own = allowGate(t, "version: \"1\"\n"), capGate
	}
	fast := func(d time.Duration) <-chan time.Time {
		if d == gateway.DrainTimeout {
			d = 50 * time.Millisecond // the drain bound, shortened for the test
		}
		return time.After(d)
	}
	gw, err := gateway.New([]*gateway.Server{
		{Name: "bank", Gate: own, Dial: srv},
	}, gateway.Options{Hub: hub, After: fast})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	session := func(id string) string {
		conn, tr, closeAll := pipes(t)
		defer closeAll()
		served := make(chan error, 1)
		go func() { served <- gw.Serve(ctx, &transport.Session{ID: id, Identity: "mallory"}, conn, nil) }()
		w := tr.Writer
		fmt.Fprintln(w, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`)
		sc := bufio.NewScanner(tr.Reader)
		var mu sync.Mutex
		var got []string
		lines := make(chan string, 16)
		go func() {
			for sc.Scan() {
				mu.Lock()
				got = append(got, sc.Text())
				mu.Unlock()
				lines <- sc.Text()
			}
			close(lines)
		}()
		<-lines // initialize result
		fmt.Fprintln(w, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		fmt.Fprintln(w, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"bank__pay","arguments":{"amount":100}}}`)
		// Wait until the server has the call, or the gate answered.
		deadline := time.Now().Add(5 * time.Second)
		want := srv.paid.Load() + 1
		for srv.paid.Load() < want && time.Now().Before(deadline) {
			select {
			case l := <-lines:
				if strings.Contains(l, `"id":2`) {
					return l // answered at once: denied
				}
			case <-time.After(10 * time.Millisecond):
			}
		}
		// The client goes away before the (slow) answer.
		tr.Writer.(interface{ Close() error }).Close()
		select {
		case err := <-served:
			t.Logf("session %s ended: %v", id, err)
		case <-time.After(10 * time.Second):
			t.Fatalf("session %s did not end", id)
		}
		var last string
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					return last
				}
				last = l
			case <-time.After(200 * time.Millisecond):
				return last
			}
		}
	}

	first := session("s1")
	t.Logf("first session, last frame: %s", first)
	second := session("s2")
	t.Logf("second session, last frame: %s", second)
	if n := srv.paid.Load(); n > 1 {
		t.Fatalf("the server made %d payments of 100 under a cap of 150: the first, abandoned, call's charge was refunded although the server ran it", n)
	}
}
