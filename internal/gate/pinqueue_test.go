package gate

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/pins"
	pinmem "github.com/tollgate-mcp/tollgate/internal/pins/memstore"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// gatedBackend is a pin backend whose Update waits until open is closed.
type gatedBackend struct {
	pins.Backend
	open    chan struct{}
	entered chan struct{}
}

func (b *gatedBackend) Update(ctx context.Context, server string, fn func(*pins.Snapshot) error) error {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	select {
	case <-b.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return b.Backend.Update(ctx, server, fn)
}

// TestPinsRecordDoesNotHoldTheAnswer: under pins: record a tools/list
// answer goes on while the store is still writing (it can hold nothing, so
// it need not wait); FlushPins waits for the record. Under enforce the
// answer waits for the store, which decides what it holds.
func TestPinsRecordDoesNotHoldTheAnswer(t *testing.T) {
	for _, mode := range []string{"record", "enforce"} {
		t.Run(mode, func(t *testing.T) {
			p, err := policy.Load("p.yaml", []byte("version: \"1\"\npins: "+mode+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			mem := pinmem.New()
			b := &gatedBackend{Backend: mem, open: make(chan struct{}), entered: make(chan struct{}, 1)}
			g := New(p)
			g.Pins = pins.NewGuard("srv", pins.NewStore(b))
			result := toolList("add=Adds two numbers.")
			list, err := (&mcp.ToolListCache{}).Read(result)
			if err != nil {
				t.Fatal(err)
			}
			answered := make(chan struct{})
			go func() {
				g.HoldTools(&transport.Session{ID: "s"}, result, list)
				close(answered)
			}()
			<-b.entered // the store is writing the list
			select {
			case <-answered:
				if mode == "enforce" {
					t.Fatal("under enforce the answer went on before the store had judged the list")
				}
			case <-time.After(200 * time.Millisecond):
				if mode == "record" {
					t.Fatal("under record the answer waited for the store")
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			if err := g.FlushPins(ctx); mode == "record" && err == nil {
				t.Fatal("FlushPins returned while the store was still writing")
			}
			cancel()
			close(b.open)
			<-answered
			if err := g.FlushPins(context.Background()); err != nil {
				t.Fatal(err)
			}
			snap, err := mem.Load(context.Background(), "srv")
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Pins) != 1 {
				t.Fatalf("after FlushPins the store holds %d pins, want 1", len(snap.Pins))
			}
		})
	}
}

// TestPinModeDoesNotAllocate: the mode is asked on every call; a policy
// without a pins key once cost a formatted error each time.
func TestPinModeDoesNotAllocate(t *testing.T) {
	g, _, _ := pinGate(t, "version: \"1\"\n")
	p := g.Policy()
	if n := testing.AllocsPerRun(100, func() { _ = g.pinMode(p) }); n != 0 {
		t.Fatalf("pinMode allocates %v times a call, want 0", n)
	}
}

// TestPinsEnforceAfterRecordKeepsOrder: a list recorded off the answer's
// path under record is in the store before a list the gate observes after
// the policy turned to enforce: the older never lands after the newer.
func TestPinsEnforceAfterRecordKeepsOrder(t *testing.T) {
	load := func(mode string) *policy.Policy {
		p, err := policy.Load("p.yaml", []byte("version: \"1\"\npins: "+mode+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	mem := pinmem.New()
	b := &gatedBackend{Backend: mem, open: make(chan struct{}), entered: make(chan struct{}, 2)}
	g := New(load("record"))
	g.Pins = pins.NewGuard("srv", pins.NewStore(b))
	s := &transport.Session{ID: "s"}
	hold := func(desc string) {
		result := toolList("add=" + desc)
		list, err := (&mcp.ToolListCache{}).Read(result)
		if err != nil {
			t.Error(err)
			return
		}
		g.HoldTools(s, result, list)
	}
	hold("Adds.") // queued; its record waits at the gate
	<-b.entered
	g.SetPolicy(load("enforce"))
	done := make(chan struct{})
	go func() { defer close(done); hold("Adds two numbers.") }()
	select {
	case <-b.entered:
		t.Fatal("the list seen under enforce reached the store before the list queued under record")
	case <-time.After(150 * time.Millisecond):
	}
	close(b.open)
	<-done
	snap, err := mem.Load(context.Background(), "srv")
	if err != nil {
		t.Fatal(err)
	}
	p := snap.Pins[string(pins.Tool)+":add"]
	if p == nil || p.Pending == nil || !strings.Contains(string(p.Pending.Definition), "Adds two numbers.") {
		t.Fatalf("the store holds %+v; want the newer definition pending after the older", p)
	}
}
