package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The fast argument reader must agree with encoding/json (numbers kept as
// text) on everything both accept.
func FuzzDecodeArgsMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":[1,2.5e3,{"b":null}],"c":"x\"y\u00e9","d":true,"e":false,"f":-0.0}`,
		`{"k":"\ud83d\ude00","n":9007199254740993}`, ` { "a" : [ ] , "b" : { } } `, `{"a":"b"} x`, `{"a":01}`, `[1]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := decodeArgsFast(raw)
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var want map[string]any
		werr := dec.Decode(&want)
		if werr == nil {
			if _, terr := dec.Token(); terr == nil {
				werr = errArgs // trailing data
			}
		}
		if err != nil {
			return // stricter than encoding/json (duplicates, depth, UTF-8) is fine
		}
		if werr != nil || want == nil {
			t.Fatalf("fast reader accepted %q that encoding/json rejects (%v)", raw, werr)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q (-encoding/json +fast):\n%s", raw, diff)
		}
	})
}

func BenchmarkDecodeArgs(b *testing.B) {
	raw := []byte(`{"charge_id":"ch_123","amount":40,"currency":"usd","metadata":{"order":"A-17","tags":["x","y"]}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeArgsFast(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestArgKeysAreInterned: keys without escapes come from the intern table
// once seen, so decoding the same arguments again allocates only the map
// and the values; the table gives back exactly the key it is asked for,
// also from many goroutines at once and past its size.
func TestArgKeysAreInterned(t *testing.T) {
	// One key, so that it cannot share a slot with another; the same
	// object with a key too long to intern is what decoding costs without
	// the table.
	allocs := func(raw []byte) float64 {
		if _, err := decodeArgsFast(raw); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(100, func() {
			if _, err := decodeArgsFast(raw); err != nil {
				t.Fatal(err)
			}
		})
	}
	short := allocs([]byte(`{"alpha":true}`))
	long := allocs([]byte(`{"` + strings.Repeat("a", maxInterned+1) + `":true}`))
	if short != long-1 {
		t.Errorf("decoding a known key allocated %v times, a key too long to intern %v: want one fewer", short, long)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprintf("k%d", (i*7+g)%600) // more keys than slots
				if got := internKey([]byte(k)); got != k {
					t.Errorf("internKey(%q) = %q", k, got)
					return
				}
			}
		})
	}
	wg.Wait()
	longKey := strings.Repeat("x", maxInterned+1)
	if got := internKey([]byte(longKey)); got != longKey {
		t.Errorf("internKey of a long key = %q", got)
	}
	m, err := decodeArgsFast([]byte(`{"a\u0062":1,"ab":2}`))
	if err == nil {
		t.Errorf("a key repeated, once escaped, was not refused: %v", m)
	}
}
