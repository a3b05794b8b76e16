package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestParseKeepsIDsByteForByte(t *testing.T) {
	for _, id := range []string{`"1"`, `1`, `1.5`, `9007199254740993`, `"\u0061"`, `-0`, `1e400`, `"ü"`, `0`} {
		t.Run(id, func(t *testing.T) {
			raw := []byte(`{"jsonrpc":"2.0","id":` + id + `,"method":"ping"}`)
			m, err := Parse(raw, true)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.ID) != id {
				t.Errorf("ID = %s, want %s", m.ID, id)
			}
			if !m.IsRequest() || m.Method != "ping" {
				t.Errorf("not read as a ping request: %+v", m)
			}
		})
	}
}

func TestParseKinds(t *testing.T) {
	tests := []struct {
		in                   string
		req, notif, response bool
		method               string
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`, true, false, false, "tools/call"},
		{`{"method":"notifications/initialized","jsonrpc":"2.0"}`, false, true, false, "notifications/initialized"},
		{`{"jsonrpc":"2.0","id":"x","result":{"a":1}}`, false, false, true, ""},
		{`{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"m"}}`, false, false, true, ""},
		{`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"m"}}`, false, false, true, ""},
		{`{"jsonrpc":"2.0","id":1,"method":"x/\u0079","extra":[1,{"b":2}]}`, true, false, false, "x/y"},
		{" \t{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r ", true, false, false, "ping"},
	}
	for _, tt := range tests {
		m, err := Parse([]byte(tt.in), true)
		if err != nil {
			t.Errorf("Parse(%s): %v", tt.in, err)
			continue
		}
		got := []bool{m.IsRequest(), m.IsNotification(), m.IsResponse()}
		if diff := cmp.Diff([]bool{tt.req, tt.notif, tt.response}, got); diff != "" || m.Method != tt.method {
			t.Errorf("Parse(%s): kinds (-want +got) %s method %q", tt.in, diff, m.Method)
		}
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name, in string
		code     int
		id       string
	}{
		{"not json", `{"jsonrpc":"2.0",`, CodeParseError, ""},
		{"trailing data", `{"jsonrpc":"2.0","id":1,"method":"a"} {}`, CodeParseError, ""},
		{"array of nothing", `[]`, CodeInvalidRequest, ""},
		{"scalar", `42`, CodeInvalidRequest, ""},
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}`, CodeInvalidRequest, "1"},
		{"duplicate id", `{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}`, CodeInvalidRequest, "1"},
		{"escaped duplicate", `{"jsonrpc":"2.0","id":1,"method":"ping","\u006dethod":"tools/call"}`, CodeInvalidRequest, "1"},
		{"case variant", `{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}`, CodeInvalidRequest, "1"},
		{"case variant of params", `{"jsonrpc":"2.0","id":1,"method":"tools/call","Params":{}}`, CodeInvalidRequest, "1"},
		{"kelvin sign folds to k", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"\u212Aey\":1,\"PARAMS\":{}}", CodeInvalidRequest, "1"},
		{"wrong version", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, CodeInvalidRequest, "1"},
		{"no version", `{"id":1,"method":"ping"}`, CodeInvalidRequest, "1"},
		{"object id", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, CodeInvalidRequest, ""},
		{"method not string", `{"jsonrpc":"2.0","id":1,"method":5}`, CodeInvalidRequest, "1"},
		{"request with result", `{"jsonrpc":"2.0","id":1,"method":"a","result":{}}`, CodeInvalidRequest, "1"},
		{"result and error", `{"jsonrpc":"2.0","id":1,"result":{},"error":{}}`, CodeInvalidRequest, "1"},
		{"response without id", `{"jsonrpc":"2.0","result":{}}`, CodeInvalidRequest, ""},
		{"scalar params", `{"jsonrpc":"2.0","id":1,"method":"a","params":3}`, CodeInvalidRequest, "1"},
		{"invalid utf8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{\"x\":\"\xff\"}}", CodeParseError, ""},
		{"lone surrogate", `{"jsonrpc":"2.0","id":1,"method":"a","params":{"x":"\ud800"}}`, CodeParseError, ""},
		{"control char", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"a\",\"params\":{\"x\":\"\x01\"}}", CodeParseError, ""},
		{"bad escape", `{"jsonrpc":"2.0","id":1,"method":"a\q"}`, CodeParseError, ""},
		{"bad number", `{"jsonrpc":"2.0","id":01,"method":"a"}`, CodeParseError, ""},
		{"too deep", `{"jsonrpc":"2.0","id":1,"method":"a","params":{"x":` + strings.Repeat("[", 2000) + strings.Repeat("]", 2000) + `}}`, CodeParseError, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), true)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse accepted %s (err %v)", tt.in, err)
			}
			if e.Code != tt.code || string(e.ID) != tt.id {
				t.Errorf("got code %d id %q (%s), want code %d id %q", e.Code, e.ID, e.Message, tt.code, tt.id)
			}
		})
	}
}

func TestSplitBatch(t *testing.T) {
	elems, err := SplitBatch([]byte(` [ {"a":1} , {"b":[2,3]},3 ] `), true)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range elems {
		got = append(got, string(e))
	}
	if diff := cmp.Diff([]string{`{"a":1}`, `{"b":[2,3]}`, `3`}, got); diff != "" {
		t.Errorf("elements (-want +got):\n%s", diff)
	}
	for _, bad := range []string{`[]`, `[1,]`, `[1`, `[1] x`} {
		if _, err := SplitBatch([]byte(bad), true); err == nil {
			t.Errorf("SplitBatch(%s) accepted", bad)
		}
	}
}

func TestCheckUnambiguous(t *testing.T) {
	ok := []string{`{}`, `{"a":1,"b":{"a":2}}`, `[{"a":1},{"a":2}]`, `{"amount":1,"amounts":2}`, `"x"`, `{"é":1,"e":2}`}
	bad := []string{
		`{"a":1,"a":2}`,
		`{"x":{"amount":1,"Amount":2}}`,
		`{"to":"a","t\u006f":"b"}`,
		`{"items":[{"id":1},{"id":1,"ID":2}]}`,
		"{\"k\":1,\"\u212A\":2}",
		"{\"s\":1,\"\u017F\":2}",
		`{"a":"\udc00"}`,
	}
	for _, s := range ok {
		if err := CheckUnambiguous([]byte(s)); err != nil {
			t.Errorf("CheckUnambiguous(%s) = %v, want nil", s, err)
		}
	}
	for _, s := range bad {
		if err := CheckUnambiguous([]byte(s)); err == nil {
			t.Errorf("CheckUnambiguous(%s) accepted an ambiguous value", s)
		}
	}
	// Large objects switch to folded-key maps: same verdicts.
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < 40; i++ {
		b.WriteString(`"k` + strings.Repeat("x", i) + `":1,`)
	}
	big := b.String()
	if err := CheckUnambiguous([]byte(big + `"end":1}`)); err != nil {
		t.Errorf("big object: %v", err)
	}
	if err := CheckUnambiguous([]byte(big + `"KXX":1}`)); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("big object with a case variant: %v, want ErrAmbiguous", err)
	}
}

func TestReaderFramesAndLimits(t *testing.T) {
	in := "{\"a\":1}\r\n\n  \n" + strings.Repeat("x", 300) + "\n{\"b\":2}\n{\"c\":3}"
	r := NewReader(iotest.OneByteReader(strings.NewReader(in)), 100)
	var got []string
	var tooLarge int
	for {
		b, err := r.Next()
		if errors.Is(err, ErrFrameTooLarge) {
			tooLarge++
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	if diff := cmp.Diff([]string{`{"a":1}`, `{"b":2}`, `{"c":3}`}, got); diff != "" || tooLarge != 1 {
		t.Errorf("frames (-want +got):\n%s\ntoo large: %d, want 1", diff, tooLarge)
	}
}

func TestReaderLargeFrame(t *testing.T) {
	big := `{"x":"` + strings.Repeat("y", 5<<20) + `"}`
	r := NewReader(strings.NewReader(big+"\n"+big+"\n"), 0)
	for i := 0; i < 2; i++ {
		b, err := r.Next()
		if err != nil || !bytes.Equal(b, []byte(big)) {
			t.Fatalf("frame %d: len %d err %v", i, len(b), err)
		}
	}
}

func TestAppendErrorAndString(t *testing.T) {
	got := string(AppendError(nil, []byte(`"\u0061"`), CodeInvalidParams, "bad <\"x\">\n\xff", nil))
	want := `{"jsonrpc":"2.0","id":"\u0061","error":{"code":-32602,"message":"bad \u003c\"x\"\u003e\n\ufffd"}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := Parse([]byte(got), true); err != nil {
		t.Errorf("our own error does not parse: %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"a":[1,2,{"b":null}]}}}`,
		`[{"jsonrpc":"2.0","id":1,"method":"a"},{"jsonrpc":"2.0","method":"b"}]`,
		`{"jsonrpc":"2.0","id":"\ud83d\ude00","result":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b, true)
		if err == nil {
			// Whatever Parse accepts is valid JSON whose parts alias the input.
			if m.ID != nil && !bytes.Contains(b, m.ID) {
				t.Fatalf("id %q not in input", m.ID)
			}
			if CheckUnambiguous(b) == nil && m.Params != nil && !bytes.Contains(b, m.Params) {
				t.Fatal("params not in input")
			}
		}
		if IsBatch(b) {
			_, _ = SplitBatch(b, true)
		}
		_ = CheckUnambiguous(b)
		r := NewReader(bytes.NewReader(b), 64)
		for i := 0; i < 100; i++ {
			if _, err := r.Next(); err == io.EOF {
				break
			}
		}
	})
}

func BenchmarkParseCall(b *testing.B) {
	msg := []byte(`{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"create_refund","arguments":{"charge_id":"ch_123","amount":40,"reason":"customer request"}}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Parse(msg, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseEchoResponse reads the bench's echo answer as the pump
// reads a server's message: its text is JSON escaped inside a string, an
// escape every few bytes.
func BenchmarkParseEchoResponse(b *testing.B) {
	msg := []byte(`{"jsonrpc":"2.0","id":123456,"result":{"content":[{"type":"text","text":"{\"message\":\"hello world, this is a short message\",\"n\":12345,\"kind\":\"a\",\"amount\":0.5}"}]}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Parse(msg, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLargeResult(b *testing.B) {
	msg := []byte(`{"jsonrpc":"2.0","id":42,"result":{"content":[{"type":"text","text":"` + strings.Repeat("lorem ipsum ", 1<<20/12) + `"}]}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := Parse(msg, false); err != nil {
			b.Fatal(err)
		}
	}
}

func TestReaderLimitWithinOneRead(t *testing.T) {
	r := NewReader(strings.NewReader(strings.Repeat("x", 150)+"\n{}\n"+strings.Repeat("z", 150)), 100)
	if _, err := r.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("first line: %v, want ErrFrameTooLarge", err)
	}
	if b, err := r.Next(); err != nil || string(b) != "{}" {
		t.Fatalf("second line: %q %v", b, err)
	}
	if _, err := r.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("last line: %v, want ErrFrameTooLarge", err)
	}
}

// FuzzSkim: on any valid JSON object or array, skim (which checks
// structure only, for messages from the upstream) ends exactly where the
// value ends, escapes and long strings included.
func FuzzSkim(f *testing.F) {
	for _, s := range []string{
		`{"a":"b"}`, `[1,"x",{"y":[]}]`, `{"k\"ey":"va\\\\lue\\","n":"\u0022"}`,
		`{"long":"` + strings.Repeat(`ab\"`, 40) + `","t":"` + strings.Repeat("z", 100) + `\\"}`,
		`["` + strings.Repeat(`\\`, 33) + `\""]`,
		// JSON text escaped inside a string, as tool results hold it; an
		// escaped quote after a long clean run, then dense escapes again.
		`{"text":"` + strings.Repeat(`{\"k\":\"v\"},`, 20) + `"}`,
		`["` + strings.Repeat("c", 40) + `\"` + strings.Repeat(`\"x`, 10) + strings.Repeat("d", 40) + `\\\\"]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		b = bytes.TrimSpace(b)
		if len(b) == 0 || (b[0] != '{' && b[0] != '[') || !json.Valid(b) {
			return
		}
		end, err := skim(b, 0)
		if err != nil || end != len(b) {
			t.Fatalf("skim(%q) = %d, %v; want %d", b, end, err, len(b))
		}
		// The same value followed by more input still ends in the same place.
		more := append(append([]byte(nil), b...), `,"x"]`...)
		if end, err := skim(more, 0); err != nil || end != len(b) {
			t.Fatalf("skim with a tail = %d, %v; want %d", end, err, len(b))
		}
	})
}

func TestArrayMember(t *testing.T) {
	for _, tc := range []struct {
		in, span string
		elems    []string
		err      bool
	}{
		{in: `{"a":1,"tools":[{"n":"x"}, 2 ],"c":"]"}`, span: `[{"n":"x"}, 2 ]`, elems: []string{`{"n":"x"}`, `2`}},
		{in: `{"tools":[]}`, span: `[]`},
		{in: `{"\u0074ools":["e"]}`, span: `["e"]`, elems: []string{`"e"`}},
		{in: `{"a":[1]}`},
		{in: `{}`},
		{in: `{"tools":"not an array"}`},
		{in: `{"tools":[1],"tools":[2]}`, err: true},
		{in: `{"tools":"x","tools":[2]}`, err: true},
		{in: `{"tools":[1,]}`, err: true},
		{in: `{"tools":[1]} x`, err: true},
		{in: `[1]`, err: true},
	} {
		var elems []string
		span, err := ArrayMember([]byte(tc.in), "tools", func(e []byte) error {
			elems = append(elems, string(e))
			return nil
		})
		if tc.err {
			if err == nil {
				t.Errorf("%s: no error", tc.in)
			}
			continue
		}
		if err != nil || string(span) != tc.span || !slices.Equal(elems, tc.elems) {
			t.Errorf("%s: span %q, elements %q, %v; want %q, %q", tc.in, span, elems, err, tc.span, tc.elems)
		}
	}
}
