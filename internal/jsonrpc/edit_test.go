package jsonrpc

import (
	"bytes"
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
