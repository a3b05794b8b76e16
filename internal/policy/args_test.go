package policy

import (
	"bytes"
	"encoding/json"
	"strings"
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

// TestArgStringsShareOneCopy: keys, strings without escapes and numbers
// are substrings of one copy of the arguments, so more keys cost nothing
// and a string or a number costs only its interface value; a key repeated
// once escaped is still refused.
func TestArgStringsShareOneCopy(t *testing.T) {
	allocs := func(raw string) float64 {
		if _, err := decodeArgsFast([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		return testing.AllocsPerRun(100, func() {
			if _, err := decodeArgsFast([]byte(raw)); err != nil {
				t.Fatal(err)
			}
		})
	}
	one := allocs(`{"alpha":true}`)
	if four := allocs(`{"alpha":true,"beta":false,"gamma":null,"` + strings.Repeat("d", 64) + `":true}`); four != one {
		t.Errorf("four keys allocated %v times, one key %v: keys should cost nothing", four, one)
	}
	if vals := allocs(`{"alpha":"a longer string value","beta":1234.5678}`); vals != one+2 {
		t.Errorf("a string and a number allocated %v times beyond the map, want 2 (their interface values)", vals-one)
	}
	m, err := decodeArgsFast([]byte(`{"message":"hello","n":12,"e":"x\u0079"}`))
	if err != nil || m["message"] != "hello" || m["n"] != json.Number("12") || m["e"] != "xy" {
		t.Errorf("decoded %v, %v", m, err)
	}
	m, err = decodeArgsFast([]byte(`{"a\u0062":1,"ab":2}`))
	if err == nil {
		t.Errorf("a key repeated, once escaped, was not refused: %v", m)
	}
}
