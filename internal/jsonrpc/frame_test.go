package jsonrpc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// oneLine is what Writer must write for frame: the frame with each CR and
// LF as a space, then one newline.
func oneLine(frame []byte) []byte {
	out := make([]byte, 0, len(frame)+1)
	for _, c := range frame {
		if c == '\r' || c == '\n' {
			c = ' '
		}
		out = append(out, c)
	}
	return append(out, '\n')
}

// TestWriterWritesOneLinePerFrame: a frame holding CR or LF bytes (JSON
// white space) leaves as one line. Before, a CR between two messages' worth
// of JSON made a Python or Node readline server read a second message, a
// tools/call the gate never judged, inside a ping it had allowed.
func TestWriterWritesOneLinePerFrame(t *testing.T) {
	smuggle := `{"jsonrpc":"2.0","id":2,"method":"ping","params":{"x":` + "\r" +
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"delete_repository","arguments":{}}}` + "\r" + `}}`
	pretty := "{\r\n  \"jsonrpc\": \"2.0\",\n  \"id\": 1,\r  \"method\": \"ping\"\n}"
	for _, frame := range []string{smuggle, pretty, "\r\n\r\n", `{"a":1}`} {
		var out bytes.Buffer
		w := NewWriter(&out)
		in := []byte(frame)
		if err := w.Write(in); err != nil {
			t.Fatal(err)
		}
		if string(in) != frame {
			t.Errorf("the caller's frame was modified: %q", in)
		}
		got := out.Bytes()
		if want := oneLine(in); !bytes.Equal(got, want) {
			t.Errorf("Write(%q) wrote %q, want %q", frame, got, want)
		}
		if bytes.Count(got, []byte("\n")) != 1 || bytes.ContainsRune(got, '\r') {
			t.Errorf("Write(%q) wrote more than one line: %q", frame, got)
		}
		if json.Valid(in) {
			var a, b any
			json.Unmarshal(in, &a)
			if err := json.Unmarshal(got, &b); err != nil {
				t.Errorf("the written line is not the same JSON: %v", err)
			}
			aj, _ := json.Marshal(a)
			bj, _ := json.Marshal(b)
			if !bytes.Equal(aj, bj) {
				t.Errorf("the written line means %s, the frame %s", bj, aj)
			}
		}
	}
	// WriteDeferred, read back through Reader: one frame per frame.
	var out bytes.Buffer
	w := NewWriter(&out)
	w.WriteDeferred([]byte(smuggle))
	w.WriteDeferred([]byte(pretty))
	w.Flush()
	r := NewReader(strings.NewReader(out.String()), 0)
	for i := range 2 {
		f, err := r.Next()
		if err != nil || bytes.ContainsAny(f, "\r\n") {
			t.Fatalf("frame %d read back: %q, %v", i, f, err)
		}
	}
	if f, err := r.Next(); err == nil {
		t.Errorf("a third frame read back: %q", f)
	}
}

// FuzzWriterOneLine: whatever a frame holds, Writer writes it as exactly
// one line with its CR and LF bytes as spaces, and leaves it unmodified.
func FuzzWriterOneLine(f *testing.F) {
	for _, s := range []string{"", "\r", "\n", "a\rb\nc\r\nd", `{"a":"b"}`, "\r\r\r\n\n\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		orig := bytes.Clone(frame)
		var out bytes.Buffer
		w := NewWriter(&out)
		if err := w.WriteDeferred(frame); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		if !bytes.Equal(frame, orig) {
			t.Fatalf("frame modified")
		}
		if want := oneLine(frame); !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("wrote %q, want %q", out.Bytes(), want)
		}
	})
}

// BenchmarkWriterLine: the cost of the line check on a small call and on a
// 1 MiB result (both without breaks, as every real frame).
func BenchmarkWriterLine(b *testing.B) {
	small := []byte(`{"jsonrpc":"2.0","id":12,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)
	big := bytes.Repeat([]byte("x"), 1<<20)
	for _, c := range []struct {
		name  string
		frame []byte
	}{{"small", small}, {"1MiB", big}} {
		b.Run(c.name, func(b *testing.B) {
			w := NewWriter(discard{})
			b.SetBytes(int64(len(c.frame)))
			b.ReportAllocs()
			for b.Loop() {
				w.Write(c.frame)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestIsLost: only the error AppendLost makes reads as no answer; a
// server's own error, with or without data, is the server's.
func TestIsLost(t *testing.T) {
	errOf := func(frame []byte) []byte {
		m, err := Parse(frame, true)
		if err != nil {
			t.Fatal(err)
		}
		return m.Error
	}
	if !IsLost(errOf(AppendLost(nil, []byte("7"), "server s closed the connection before answering"))) {
		t.Error("AppendLost's error is not lost")
	}
	for _, frame := range []string{
		`{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"boom"}}`,
		`{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"boom","data":"no_response"}}`,
		`{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"boom","data":{"dev.tollgate/outcome":"error"}}}`,
		`{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"boom","data":{"outcome":"no_response"}}}`,
	} {
		if IsLost(errOf([]byte(frame))) {
			t.Errorf("%s reads as lost", frame)
		}
	}
}
