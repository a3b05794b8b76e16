package gate

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// A name that reads as a governed tool's is refused until the server lists
// it exactly; then it is a tool of its own and gets its own rules. A name
// that reads as a hidden tool's is answered as a missing tool is.
func TestNameVariantListedIsItsOwnTool(t *testing.T) {
	p, err := policy.Load("p.yaml", []byte(`version: "1"
hide: [internal_admin]
tools:
  delete_repository:
    rules:
      - name: no deletes
        action: deny
`))
	if err != nil {
		t.Fatal(err)
	}
	g := New(p)
	evs := &events{}
	g.Recorder = evs
	var logged strings.Builder
	g.Logger = slog.New(slog.NewTextHandler(&logged, nil))
	s := &transport.Session{ID: "s1"}
	if r := call(g, s, "Delete_Repository"); !strings.Contains(string(r.Answer), `reads as \"delete_repository\"`) {
		t.Fatalf("unlisted variant: answer %s", r.Answer)
	}
	if r := call(g, s, "Internal_Admin"); !r.Unknown {
		t.Fatalf("a variant of a hidden name: %+v, want an unknown tool's answer", r)
	}
	// The server lists them, as the pump hands a list to the gate.
	hidden, noted := g.Lists()
	if noted == nil {
		t.Fatal("the gate does not note the names the server lists")
	}
	for _, name := range []string{"delete_repository", "Delete_Repository", "Internal_Admin", "internal_admin"} {
		if hidden(name) != (name == "internal_admin") {
			t.Errorf("hidden(%q) = %v", name, hidden(name))
		}
		noted(name, nil)
	}
	if r := call(g, s, "Delete_Repository"); r.Answer != nil || r.Unknown {
		t.Fatalf("a tool the server lists under that exact name: %+v %s", r, r.Answer)
	}
	if !strings.Contains(logged.String(), "tool=Delete_Repository key=delete_repository") {
		t.Errorf("a listed tool that reads as a policy key is not logged:\n%s", logged.String())
	}
	if r := call(g, s, "Internal_Admin"); r.Answer != nil || r.Unknown {
		t.Fatalf("a listed tool beside a hidden one: %+v %s", r, r.Answer)
	}
	if r := call(g, s, "DELETE_REPOSITORY"); !strings.Contains(string(r.Answer), "POLICY DENIED") {
		t.Fatalf("another, unlisted, variant: %s", r.Answer)
	}
	if r := call(g, s, "delete_repository"); !strings.Contains(string(r.Answer), "no deletes") {
		t.Fatalf("the governed tool itself: %s", r.Answer)
	}
}
