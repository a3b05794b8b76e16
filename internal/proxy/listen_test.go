package proxy_test

import (
	"bufio"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
)

// TestReloadNotifiesListenStreams: when a reload changes what tools/list
// shows, a 2026-07-28 client is told on each subscriptions/listen stream
// that asked for tools/list changes and that the server acknowledged,
// tagged with that stream's id; never untagged (it would land on some
// unrelated request's stream), never on a stream that did not ask or that
// the client cancelled. An
// initialize-era client gets the untagged notification as before.
func TestReloadNotifiesListenStreams(t *testing.T) {
	meta := `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}`
	for _, tc := range []struct {
		name   string
		client []string
		want   string
	}{
		{
			name: "2026-07-28",
			client: []string{
				`{"jsonrpc":"2.0","id":"L1","method":"subscriptions/listen","params":{` + meta + `,"notifications":{"toolsListChanged":true}}}`,
				`{"jsonrpc":"2.0","id":"L2","method":"subscriptions/listen","params":{` + meta + `,"notifications":{"promptsListChanged":true}}}`,
				`{"jsonrpc":"2.0","id":"L3","method":"subscriptions/listen","params":{` + meta + `,"notifications":{"toolsListChanged":true}}}`,
				// On stdio a subscription ends with its cancellation.
				`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"L3"}}`,
			},
			want: `{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"L1"}}}`,
		},
		{
			name: "2025-11-25",
			client: []string{
				`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`,
				`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
			},
			want: `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := policy.Load("p.yaml", []byte("version: \"1\"\n"))
			if err != nil {
				t.Fatal(err)
			}
			g := gate.New(p)
			g.Store = memstore.New()
			fs := newFakeServer(t, []string{
				`subscriptions/listen => {"jsonrpc":"2.0","method":"notifications/subscriptions/acknowledged","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":{{id}}},"notifications":{}}}`,
				`initialize => {"jsonrpc":"2.0","id":{{id}},"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true}},"serverInfo":{"name":"s","version":"1"}}}`,
			})
			cw, pr, pw, done := startPump(t, g, fs, 1<<16)
			var mu sync.Mutex
			var got []string
			go func() {
				sc := bufio.NewScanner(pr)
				for sc.Scan() {
					mu.Lock()
					got = append(got, sc.Text())
					mu.Unlock()
				}
			}()
			for _, l := range tc.client {
				if _, err := io.WriteString(cw, l+"\n"); err != nil {
					t.Fatal(err)
				}
			}
			n := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }
			answered := 3
			if tc.name != "2026-07-28" {
				answered = 1
			}
			mcptest.Eventually(t, 5*time.Second, func() bool { return n() >= answered && fs.received() >= len(tc.client) }, "the server's answers")
			hide, err := policy.Load("p.yaml", []byte("version: \"1\"\nhide: [x]\n"))
			if err != nil {
				t.Fatal(err)
			}
			g.SetPolicy(hide)
			mcptest.Eventually(t, 5*time.Second, func() bool { return n() > answered }, "a list_changed after the reload")
			cw.Close()
			<-done
			pw.Close()
			mu.Lock()
			defer mu.Unlock()
			var changes []string
			for _, l := range got {
				if strings.Contains(l, "list_changed") {
					changes = append(changes, l)
				}
			}
			if len(changes) != 1 || changes[0] != tc.want {
				t.Errorf("list_changed sent: %q, want exactly %s", changes, tc.want)
			}
		})
	}
}
