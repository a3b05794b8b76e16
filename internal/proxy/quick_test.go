package proxy_test

import (
	"bufio"
	"context"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
)

// stackGate is a gate.Gate that notes, for each call it judges, whether it
// was judged on the pump's client read loop.
type stackGate struct {
	*gate.Gate
	mu     sync.Mutex
	inLoop []bool
}

func (g *stackGate) Judge(ctx context.Context, c *proxy.Call) proxy.Ruling {
	buf := make([]byte, 64<<10)
	stack := string(buf[:runtime.Stack(buf, false)])
	g.mu.Lock()
	g.inLoop = append(g.inLoop, strings.Contains(stack, "clientLoop"))
	g.mu.Unlock()
	return g.Gate.Judge(ctx, c)
}

// blockingStore hides memstore's NonBlocking, as a store that does I/O would.
type blockingStore struct{ state.Store }

// TestQuickAdmissionRunsOnTheReadLoop: a limit kept in memory is reserved
// on the read loop; one kept in a store that may block is reserved off it.
// Either way the call is forwarded and answered.
func TestQuickAdmissionRunsOnTheReadLoop(t *testing.T) {
	pol, err := policy.Load("p.yaml", []byte(`version: "1"
tools:
  echo:
    rules:
      - name: ten a minute
        rate_limit: 10/minute
`))
	if err != nil {
		t.Fatal(err)
	}
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
