package jsonrpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestIDKeySameValue(t *testing.T) {
	tests := []struct {
		name string
		ids  []string // spellings of one value
	}{
		{"integer", []string{`1`, `1.0`, `1e0`, `1E0`, `10e-1`, `0.1e1`, `1.00000000000000001`, `1.000e+0`}},
		{"zero", []string{`0`, `-0`, `0.0`, `-0.0`, `0e5`, `1e-400`}},
		{"negative", []string{`-1`, `-1.0`, `-1e0`}},
		{"big integer as a float64", []string{`9007199254740993`, `9007199254740992`, `9.007199254740992e15`}},
		{"million", []string{`1000000`, `1e6`, `1E+6`}},
		{"overflow", []string{`1e400`, `2e999`}},
		{"string", []string{`"a"`, `"\u0061"`}},
		{"escapes", []string{`"a/b"`, `"a\/b"`, `"a\u002fb"`}},
		{"html", []string{`"<&>"`, `"\u003c\u0026\u003e"`}},
		{"unicode", []string{`"ü"`, `"\u00fc"`, `"\u00FC"`}},
		{"surrogate pair", []string{`"😀"`, `"\ud83d\ude00"`, `"\uD83D\uDE00"`}},
		{"unpaired surrogate reads as U+FFFD", []string{`"\ud800"`, `"\ufffd"`, `"` + "\xff" + `"`, `"\udc00"`}},
		{"empty string", []string{`""`}},
		{"null", []string{`null`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := IDKey([]byte(tt.ids[0]))
			for _, id := range tt.ids[1:] {
				if got := IDKey([]byte(id)); got != want {
					t.Errorf("IDKey(%s) = %q, want %q (the key of %s)", id, got, want, tt.ids[0])
				}
				if !SameID([]byte(id), []byte(tt.ids[0])) {
					t.Errorf("SameID(%s, %s) = false", id, tt.ids[0])
				}
			}
		})
	}
}

func TestIDKeyDifferentValues(t *testing.T) {
	ids := []string{
		`1`, `"1"`, `2`, `1.5`, `-1`, `0`, `""`, `"a"`, `"A"`, `"a "`, `null`, `"null"`,
		`1e400`, `-1e400`, `"n1"`, `"s"`, `"+Inf"`, `9007199254740991`, `"\ud800\udc00"`, `"\ufffd\ufffd"`,
	}
	seen := make(map[string]string)
	for _, id := range ids {
		k := IDKey([]byte(id))
		if other, dup := seen[k]; dup {
			t.Errorf("IDKey(%s) = IDKey(%s) = %q, want different keys", id, other, k)
		}
		seen[k] = id
	}
}

func TestPlainID(t *testing.T) {
	tests := []struct {
		id    string
		plain bool
	}{
		{`1`, true},
		{`0`, true},
		{`123456789012345`, true},
		{`1234567890123456`, false}, // may not be exact as a float64
		{`01`, false},
		{`-1`, false},
		{`-0`, false},
		{`1.0`, false},
		{`1e0`, false},
		{`"a"`, true},
		{`""`, true},
		{`"<&>"`, true},
		{`"ü"`, true},
		{`"a\u0062"`, false},
		{`"\/"`, false},
		{`"` + "\xff" + `"`, false}, // reads as U+FFFD, whose plain form differs
		{`null`, false},
		{``, true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			if got := PlainID([]byte(tt.id)); got != tt.plain {
				t.Errorf("PlainID(%s) = %v, want %v", tt.id, got, tt.plain)
			}
			if !tt.plain || tt.id == "" {
				return
			}
			if pf, ok := PlainForm(IDKey([]byte(tt.id))); !ok || pf != tt.id {
				t.Errorf("PlainForm(IDKey(%s)) = %s, %v; want the id back", tt.id, pf, ok)
			}
		})
	}
}

func TestPlainFormOfRespelling(t *testing.T) {
	tests := []struct{ id, plain string }{
		{`1.0`, `1`},
		{`1e6`, `1000000`},
		{`-0`, `0`},
		{`"\u0061"`, `"a"`},
		{`"\u003c"`, `"<"`},
		{`"\u00fc"`, `"ü"`},
	}
	for _, tt := range tests {
		pf, ok := PlainForm(IDKey([]byte(tt.id)))
		if !ok || pf != tt.plain {
			t.Errorf("PlainForm(IDKey(%s)) = %s, %v; want %s", tt.id, pf, ok, tt.plain)
		}
	}
	for _, id := range []string{`-1`, `1.5`, `1e15`, `"a\nb"`, `"a\"b"`, `"a\\b"`, `null`} {
		if pf, ok := PlainForm(IDKey([]byte(id))); ok {
			t.Errorf("PlainForm(IDKey(%s)) = %s, want none", id, pf)
		}
	}
}

func TestPlainIDDoesNotAllocate(t *testing.T) {
	ids := [][]byte{[]byte(`12345`), []byte(`"abc-def"`), []byte(`"ü"`)}
	allocs := testing.AllocsPerRun(100, func() {
		for _, id := range ids {
			if !PlainID(id) {
				t.Fatalf("PlainID(%s) = false", id)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("PlainID allocates %v times, want 0", allocs)
	}
}

// decodeID decodes an id as encoding/json does, reporting false for what is
// not one whole JSON string, number or null.
func decodeID(b []byte) (any, bool) {
	if len(b) == 0 || !json.Valid(b) || len(bytes.TrimSpace(b)) != len(b) {
		return nil, false
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false
	}
	switch v.(type) {
	case string, float64, nil:
		return v, true
	}
	return nil, false
}

// respell returns other spellings of the JSON value v.
func respell(v any) []string {
	switch v := v.(type) {
	case string:
		var esc strings.Builder
		esc.WriteByte('"')
		for _, r := range v {
			if r > 0xFFFF {
				r1, r2 := (r-0x10000)>>10+0xD800, (r-0x10000)&0x3FF+0xDC00
				fmt.Fprintf(&esc, `\u%04x\u%04X`, r1, r2)
				continue
			}
			fmt.Fprintf(&esc, `\u%04x`, r)
		}
		esc.WriteByte('"')
		m, _ := json.Marshal(v)
		return []string{esc.String(), string(m), `"` + v + `"`}
	case float64:
		return []string{
			strconv.FormatFloat(v, 'g', -1, 64),
			strconv.FormatFloat(v, 'e', -1, 64),
			strconv.FormatFloat(v, 'f', -1, 64),
			strconv.FormatFloat(v, 'E', 20, 64),
		}
	}
	return nil
}

func FuzzIDKey(f *testing.F) {
	for _, s := range [][2]string{
		{`1`, `1.0`}, {`1e0`, `10E-1`}, {`"a"`, `"\u0061"`}, {`-0`, `0`}, {`"\ud800"`, `"\ufffd"`},
		{`9007199254740993`, `9007199254740992`}, {`"ü"`, `"\u00fc"`}, {`null`, `null`}, {`"1"`, `1`},
		{`"\ud83d\ude00"`, `"😀"`}, {`1e400`, `1e401`}, {`123456789012345`, `1.23456789012345e14`},
	} {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		va, okA := decodeID(a)
		if okA {
			if PlainID(a) {
				if pf, ok := PlainForm(IDKey(a)); !ok || pf != string(a) {
					t.Fatalf("PlainForm(IDKey(%q)) = %q, %v; want the plain id back", a, pf, ok)
				}
			}
			for _, s := range respell(va) {
				vs, ok := decodeID([]byte(s))
				if !ok || !sameValue(va, vs) {
					continue // not a faithful respelling (say, text with invalid UTF-8)
				}
				if IDKey(a) != IDKey([]byte(s)) {
					t.Fatalf("IDKey(%q) = %q, IDKey(%q) = %q: one value, two keys", a, IDKey(a), s, IDKey([]byte(s)))
				}
			}
		}
		vb, okB := decodeID(b)
		if !okA || !okB {
			return
		}
		if same, ka, kb := sameValue(va, vb), IDKey(a), IDKey(b); same != (ka == kb) {
			t.Fatalf("%q and %q decode to %#v and %#v, but their keys are %q and %q", a, b, va, vb, ka, kb)
		}
		if SameID(a, b) != sameValue(va, vb) {
			t.Fatalf("SameID(%q, %q) = %v, want %v", a, b, SameID(a, b), sameValue(va, vb))
		}
	})
}

// sameValue reports whether two decoded ids are one value to a peer: equal
// strings, or equal numbers (so -0 is 0).
func sameValue(a, b any) bool {
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return ok && a == b
	case float64:
		b, ok := b.(float64)
		return ok && a == b
	case nil:
		return b == nil
	}
	return false
}

// TestIDKeySmallIntegers: the shortcut for small integers gives the key the
// float path gives, for every integer it takes and for spellings around it.
func TestIDKeySmallIntegers(t *testing.T) {
	floatKey := func(raw string) string {
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if f == 0 {
			f = 0
		}
		return "n" + strconv.FormatFloat(f, 'g', -1, 64)
	}
	check := func(raw string) {
		if got, want := IDKey([]byte(raw)), floatKey(raw); got != want {
			t.Fatalf("IDKey(%s) = %q, the float path gives %q", raw, got, want)
		}
	}
	for i := -1000; i < 1_000_100; i++ {
		check(strconv.Itoa(i))
	}
	for _, raw := range []string{"-0", "0.0", "1e0", "1000000", "9999999", "-999999", "-1000000", "1.5", "-0.0"} {
		check(raw)
	}
}

func TestOtherKind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`"2"`, `2`},
		{`"-1"`, `-1`},
		{`"0.5"`, `0.5`},
		{`"1e+21"`, `1e+21`},
		{`2`, `"2"`},
		{`2.0`, `"2"`},
		{`2e0`, `"2"`},
		{`-0`, `"0"`},
		{`0.5`, `"0.5"`},
		{`1e21`, `"1e+21"`},
		{`1e-7`, `"1e-7"`},
		{`100000000000000000000`, `"100000000000000000000"`},
		// No other kind: strings JavaScript would not write for a number.
		{`"2.0"`, ``},
		{`"02"`, ``},
		{`"abc"`, ``},
		{`""`, ``},
		{`"1e21"`, ``},
		{`null`, ``},
		{`1e999`, ``},
	} {
		if got := string(OtherKind([]byte(c.in))); got != c.want {
			t.Errorf("OtherKind(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}
