package pins_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/pins"
)

// FuzzDefinitionStable: whatever a server sends, re-encoding the same
// value (keys in another order, other white space, other escapes) never
// changes its hash; and a definition Definition accepts hashes its own
// canonical form to the same hash.
func FuzzDefinitionStable(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(`{"name":"a","description":"x\u200by <IMPORTANT>","inputSchema":{"type":"object","properties":{"n":{"type":"number","default":1.50}}}}`))
	f.Add([]byte(`{"name":"a","annotations":{"title":"T","readOnlyHint":true},"outputSchema":{"type":"object"},"_meta":{"k":[1,2]}}`))
	f.Fuzz(func(t *testing.T, entry []byte) {
		d, err := pins.Definition(pins.Tool, entry)
		if err != nil {
			return
		}
		again, err := pins.Definition(pins.Tool, d.Definition)
		if err != nil || again.Hash != d.Hash || again.Name != d.Name {
			t.Fatalf("the canonical form %s hashes differently: %v", d.Definition, err)
		}
		dec := json.NewDecoder(bytes.NewReader(entry))
		dec.UseNumber()
		var v map[string]any
		if err := dec.Decode(&v); err != nil {
			return
		}
		re, err := json.MarshalIndent(v, " ", "\t")
		if err != nil {
			return
		}
		r, err := pins.Definition(pins.Tool, re)
		if err != nil {
			t.Fatalf("re-encoded %s refused: %v", re, err)
		}
		if r.Hash != d.Hash {
			t.Fatalf("re-encoding changed the hash:\n%s\n%s", d.Definition, r.Definition)
		}
	})
}
