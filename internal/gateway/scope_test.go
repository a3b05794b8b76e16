package gateway

import (
	"strconv"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
)

// TestScopedStoreIsTheSharedStore: a server's view of the shared store
// has the store's properties, so that a limit kept in memory is judged on
// the read loop in a gateway as in tollgate run, and its commit is not
// given a timer.
func TestScopedStoreIsTheSharedStore(t *testing.T) {
	mem := memstore.New()
	defer mem.Close()
	scoped := &ScopedStore{Store: mem, Server: "a"}
	if !state.IsNonBlocking(scoped) || !state.CommitsQuickly(scoped) {
		t.Fatalf("a view of the memory store: IsNonBlocking %v, CommitsQuickly %v", state.IsNonBlocking(scoped), state.CommitsQuickly(scoped))
	}
	p, err := policy.Load("p.yaml", []byte(`version: "1"
tools:
  echo:
    rules:
      - name: ten a minute
        rate_limit: 10/minute
`))
	if err != nil {
		t.Fatal(err)
	}
	g := gate.New(p)
	g.Store = scoped
	if g.Waits("echo") != proxy.WaitNone {
		t.Error("a limit on the memory store, seen through a server's view, is judged off the read loop")
	}
}

type lastEvent struct{ ev event.Event }

func (l *lastEvent) Record(ev event.Event) { l.ev = ev }

// TestRecorderNamesServerAndTool: every event is tagged with the server and
// the namespaced tool, also once the remembered names are full, and a name
// seen before costs no allocation.
func TestRecorderNamesServerAndTool(t *testing.T) {
	next := &lastEvent{}
	r := &Recorder{Server: "github", Namespace: "github__", Next: next}
	tool := []byte("create_issue")
	r.Record(event.Event{Tool: string(tool)})
	if next.ev.Server != "github" || next.ev.Tool != "github__create_issue" {
		t.Fatalf("tagged %q %q", next.ev.Server, next.ev.Tool)
	}
	r.Record(event.Event{})
	if next.ev.Tool != "" {
		t.Errorf("an event without a tool got %q", next.ev.Tool)
	}
	if n := testing.AllocsPerRun(100, func() { r.Record(event.Event{Tool: "create_issue"}) }); n != 0 {
		t.Errorf("a known name: %v allocations", n)
	}
	for i := range maxNamespaced + 10 {
		name := "t" + strconv.Itoa(i)
		r.Record(event.Event{Tool: name})
		if next.ev.Tool != "github__"+name {
			t.Fatalf("tool %d tagged %q", i, next.ev.Tool)
		}
	}
	if n := r.n.Load(); n > maxNamespaced {
		t.Errorf("%d names remembered, bound %d", n, maxNamespaced)
	}
}

// TestClientKeys: every spelling of one id is one key, small integers
// without a string, and different ids differ.
func TestClientKeys(t *testing.T) {
	one := keyOfClient([]byte("1"))
	if !one.isNum || one.num != 1 {
		t.Fatalf("1: %+v", one)
	}
	for _, spelling := range []string{`1.0`, `1e0`, `10e-1`} {
		if k := keyOfClient([]byte(spelling)); k != one {
			t.Errorf("%s: %+v, want the key of 1", spelling, k)
		}
	}
	for _, other := range []string{`"1"`, `-1`, `01`, `1.5`, `12`, `0`, `9999999999999999999999`} {
		if k := keyOfClient([]byte(other)); k == one {
			t.Errorf("%s has the key of 1", other)
		}
	}
	if k := keyOfClient([]byte(`"1"`)); k.isNum {
		t.Errorf(`"1" (a string) is kept as a number: %+v`, k)
	}
	if n := testing.AllocsPerRun(100, func() { _ = keyOfClient([]byte("123456789")) }); n != 0 {
		t.Errorf("a small integer id: %v allocations", n)
	}
	ids := newClientIDs()
	ids.put(keyOfClient([]byte(`7`)), 1)
	ids.put(keyOfClient([]byte(`"7"`)), 2)
	if g, ok := ids.get(keyOfClient([]byte(`7.0`))); !ok || g != 1 {
		t.Errorf("7.0: %d %v", g, ok)
	}
	if g, ok := ids.get(keyOfClient([]byte(`"7"`))); !ok || g != 2 {
		t.Errorf(`"7": %d %v`, g, ok)
	}
	ids.drop(keyOfClient([]byte(`7`)))
	if _, ok := ids.get(keyOfClient([]byte(`7`))); ok {
		t.Error("7 still held after drop")
	}
}
