package jsonrpc

import (
	"bytes"
	"strconv"
	"testing"
)

func TestApplyEdits(t *testing.T) {
	frame := []byte(`{"id":7,"params":{"name":"a__echo","_meta":{"progressToken":3}}}`)
	at := func(part string) []byte {
		i := bytes.Index(frame, []byte(part))
		return frame[i : i+len(part)]
	}
	id, name, tok := at("7"), at(`"a__echo"`), at("3")
	if string(id) != "7" || string(name) != `"a__echo"` || string(tok) != "3" {
		t.Fatalf("test set-up: %q %q %q", id, name, tok)
	}
	// Out of order, one nil, one not inside frame: applied in frame order,
	// the rest skipped.
	got := ApplyEdits(frame, Edit{Old: tok, Repl: []byte(`"t9"`)}, Edit{}, Edit{Old: []byte("7"), Repl: []byte("x")},
		Edit{Old: id, Repl: []byte(`"g1"`)}, Edit{Old: name, Repl: []byte(`"echo"`)})
	if want := `{"id":"g1","params":{"name":"echo","_meta":{"progressToken":"t9"}}}`; string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if string(frame) != `{"id":7,"params":{"name":"a__echo","_meta":{"progressToken":3}}}` {
		t.Errorf("frame changed: %s", frame)
	}
	// Overlapping edits: the later one is skipped.
	params := frame[bytes.Index(frame, []byte(`{"name"`)) : len(frame)-1]
	if got := ApplyEdits(frame, Edit{Old: params, Repl: []byte("{}")}, Edit{Old: name, Repl: []byte("x")}); string(got) != `{"id":7,"params":{}}` {
		t.Errorf("overlap: %s", got)
	}
}

func TestAppendEditsKeepsDst(t *testing.T) {
	frame := []byte(`{"id":7}`)
	dst := make([]byte, 0, 64)
	dst = append(dst, "kept:"...)
	got := AppendEdits(dst, frame, Edit{Old: frame[6:7], Repl: []byte(`"g1"`)})
	if string(got) != `kept:{"id":"g1"}` {
		t.Errorf("got %s", got)
	}
	if &got[0] != &dst[:1][0] {
		t.Error("a buffer with room was not appended to")
	}
}

func TestMintedKey(t *testing.T) {
	for _, spelling := range []string{`12`, `"12"`, `12.0`, `1.2e1`, `"1\u0032"`} {
		if got := MintedKey([]byte(spelling)); got != "12" {
			t.Errorf("MintedKey(%s) = %q, want 12", spelling, got)
		}
	}
	if MintedKey([]byte(`13`)) == MintedKey([]byte(`12`)) {
		t.Error("different values share a key")
	}
}

// routerEdits makes the edits the gateway's router makes to a request m
// of frame: its id by a number, a prefix of params.name cut when the name
// holds no escape, and params._meta.progressToken by a number.
func routerEdits(m Message) []Edit {
	edits := []Edit{{Old: m.ID, Repl: []byte("1234567")}}
	if m.Params == nil || m.Params[0] != '{' {
		return edits
	}
	_ = Members(m.Params, func(k string, v []byte) error {
		switch {
		case k == "name" && len(v) > 4 && v[0] == '"' && !bytes.ContainsRune(v, '\\'):
			edits = append(edits, Edit{Old: v[1:3], Repl: []byte{}})
		case k == "_meta" && v[0] == '{':
			_ = Members(v, func(k string, tok []byte) error {
				if k == "progressToken" {
					edits = append(edits, Edit{Old: tok, Repl: []byte("99")})
				}
				return nil
			})
		}
		return nil
	})
	return edits
}

// sameMessage reports where got and want (both of out) differ: parts
// equal, at the same offsets.
func sameMessage(got, want Message) string {
	if string(got.Raw) != string(want.Raw) || got.Method != want.Method {
		return "raw or method"
	}
	parts := [][2][]byte{{got.ID, want.ID}, {got.Params, want.Params}, {got.Result, want.Result}, {got.Error, want.Error}}
	for i, p := range parts {
		if (p[0] == nil) != (p[1] == nil) || string(p[0]) != string(p[1]) {
			return "part " + strconv.Itoa(i)
		}
		if p[0] != nil && Offset(got.Raw, p[0]) != Offset(want.Raw, p[1]) {
			return "offset of part " + strconv.Itoa(i)
		}
	}
	return ""
}

func checkEditMessage(t *testing.T, frame []byte, strict bool) {
	m, err := Parse(frame, strict)
	if err != nil || !m.IsRequest() {
		return
	}
	edits := routerEdits(m)
	want := ApplyEdits(frame, append([]Edit(nil), edits...)...)
	out, moved, ok := EditMessage(make([]byte, 0, 8), m, edits...)
	if string(out) != string(want) {
		t.Fatalf("EditMessage wrote %s, ApplyEdits %s", out, want)
	}
	if !ok {
		t.Fatalf("%s: not moved", frame)
	}
	again, err := Parse(out, strict)
	if err != nil {
		t.Fatalf("%s edited to %s, which does not parse: %v", frame, out, err)
	}
	if d := sameMessage(moved, again); d != "" {
		t.Fatalf("%s edited to %s: moved differs from a parse in its %s", frame, out, d)
	}
}

// TestEditMessage: the message EditMessage moves onto the edited frame is
// the one Parse reads from it.
func TestEditMessage(t *testing.T) {
	for _, f := range []string{
		`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a__echo","arguments":{"m":"x"},"_meta":{"progressToken":"tok"}}}`,
		`{ "params" : { "_meta":{"progressToken":1}, "name" : "b__x__y" } , "method":"tools/call", "id" : "req-1", "jsonrpc":"2.0" }`,
		`{"jsonrpc":"2.0","id":"\u0031","method":"prompts/get","params":{"name":"p__\u00e9"}}`,
		`{"jsonrpc":"2.0","id":12345678901,"method":"ping"}`,
		`{"id":1,"jsonrpc":"2.0","method":"tools/call","params":[]}`,
	} {
		checkEditMessage(t, []byte(f), true)
		checkEditMessage(t, []byte(f), false)
	}
	// An edit across a part's edge: not moved.
	f := []byte(`{"jsonrpc":"2.0","id":7,"method":"x","params":{"a":1}}`)
	m, err := Parse(f, true)
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(f, []byte(`7,"method"`))
	if _, _, ok := EditMessage(nil, m, Edit{Old: f[at : at+3], Repl: []byte("8,")}); ok {
		t.Error("an edit across the id's end was moved")
	}
}

func FuzzEditMessage(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"a__echo","arguments":{},"_meta":{"progressToken":"t"}}}`))
	f.Add([]byte(`{"method":"tools/call","id":"x","jsonrpc":"2.0","params":{"_meta":{"progressToken":3},"name":"abcdef"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		checkEditMessage(t, b, true)
		checkEditMessage(t, b, false)
	})
}

// TestEditMessageInPlace: with room in dst nothing is allocated; more
// edits than it tracks leave the message to be parsed again.
func TestEditMessageInPlace(t *testing.T) {
	frame := []byte(`{"jsonrpc":"2.0","id":7,"method":"x","params":{"a":1,"b":2,"c":3,"d":4}}`)
	m, err := Parse(frame, true)
	if err != nil {
		t.Fatal(err)
	}
	id := m.ID
	dst := make([]byte, 0, 256)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = EditMessage(dst, m, Edit{Old: id, Repl: []byte("8")}) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
	var edits []Edit
	for _, k := range []string{`7`, `1`, `2`, `3`, `4`} {
		i := bytes.Index(frame, []byte(`:`+k)) + 1
		edits = append(edits, Edit{Old: frame[i : i+1], Repl: []byte("9")})
	}
	out, _, ok := EditMessage(nil, m, edits...)
	if ok || string(out) != `{"jsonrpc":"2.0","id":9,"method":"x","params":{"a":9,"b":9,"c":9,"d":9}}` {
		t.Errorf("five edits: %s, moved %v", out, ok)
	}
}
