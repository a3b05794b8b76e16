package sse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

type got struct {
	ID    string
	HasID bool
	Name  string
	Data  string
	Retry time.Duration
}

func readAll(t *testing.T, r *Reader) ([]got, error) {
	t.Helper()
	var out []got
	for {
		ev, err := r.Next()
		if err != nil {
			return out, err
		}
		out = append(out, got{ev.ID, ev.HasID, ev.Name, string(ev.Data), ev.Retry})
	}
}

func TestReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []got
	}{
		{"one message", "event: message\ndata: {\"a\":1}\n\n", []got{{Name: "message", Data: `{"a":1}`}}},
		{"priming event", "id: 7\nretry: 500\ndata: \n\n", []got{{ID: "7", HasID: true, Retry: 500 * time.Millisecond}}},
		{"priming without data", "id: 7\n\n", []got{{ID: "7", HasID: true}}},
		{"multi-line data", "data: a\ndata:b\ndata\n\n", []got{{Data: "a\nb\n"}}},
		{"CRLF and CR endings", "id: x\r\ndata: 1\r\rdata: 2\r\n\r\n", []got{{ID: "x", HasID: true, Data: "1"}, {Data: "2"}}},
		{"comments and blank lines", ": keep-alive\n\n\n: more\ndata: z\n\n", []got{{Data: "z"}}},
		{"endpoint", "event: endpoint\ndata: /message?sessionId=abc\n\n", []got{{Name: "endpoint", Data: "/message?sessionId=abc"}}},
		{"unfinished event dropped", "data: a\n\ndata: b\n", []got{{Data: "a"}}},
		{"bad retry ignored", "retry: soon\ndata: a\n\n", []got{{Data: "a"}}},
		{"no space after colon", "data:x\n\n", []got{{Data: "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				evs, err := readAll(t, NewReader(r, 1<<20))
				if !errors.Is(err, io.EOF) {
					t.Fatalf("err = %v, want io.EOF", err)
				}
				if diff := cmp.Diff(tc.want, evs); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestReaderLargeEvent(t *testing.T) {
	payload := bytes.Repeat([]byte("x"), 5<<20)
	var in bytes.Buffer
	in.WriteString("id: 1\ndata: ")
	in.Write(payload)
	in.WriteString("\n\ndata: after\n\n")
	r := NewReader(&in, 6<<20)
	ev, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ev.Data, payload) {
		t.Fatalf("data: got %d bytes, want %d", len(ev.Data), len(payload))
	}
	ev, err = r.Next()
	if err != nil || string(ev.Data) != "after" {
		t.Fatalf("second event = %q, %v", ev.Data, err)
	}
}

func TestReaderTooLarge(t *testing.T) {
	for _, in := range []string{
		"data: " + strings.Repeat("y", 2000) + "\n\n",
		"data: " + strings.Repeat("y", 600) + "\ndata: " + strings.Repeat("y", 600) + "\n\n",
	} {
		_, err := NewReader(strings.NewReader(in), 1000).Next()
		if !errors.Is(err, ErrEventTooLarge) || !errors.Is(err, jsonrpc.ErrFrameTooLarge) {
			t.Errorf("err = %v, want ErrEventTooLarge", err)
		}
	}
}

func TestWriterRoundTrip(t *testing.T) {
	events := []Event{
		{ID: "1", HasID: true, Retry: 250 * time.Millisecond},
		{Name: "message", Data: []byte(`{"jsonrpc":"2.0","method":"x"}`)},
		{ID: "s-2", HasID: true, Data: []byte("{\n  \"pretty\": true\r\n}")},
		{Name: "endpoint", Data: []byte("/message?sessionId=1")},
	}
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, e := range events {
		if err := w.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Comment("ping\nno newlines"); err != nil {
		t.Fatal(err)
	}
	evs, err := readAll(t, NewReader(&buf, 0))
	if !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	want := []got{
		{ID: "1", HasID: true, Retry: 250 * time.Millisecond},
		{Name: "message", Data: `{"jsonrpc":"2.0","method":"x"}`},
		{ID: "s-2", HasID: true, Data: "{\n  \"pretty\": true\n}"},
		{Name: "endpoint", Data: "/message?sessionId=1"},
	}
	if diff := cmp.Diff(want, evs); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := w.Write(Event{ID: "a\nb"}); !errors.Is(err, ErrBadField) {
		t.Errorf("id with newline: err = %v, want ErrBadField", err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add("id: 1\ndata: x\n\n")
	f.Add("data: a\r\rdata\r\n:c\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader(in), 1<<16)
		for i := 0; i < 1000; i++ {
			if _, err := r.Next(); err != nil {
				return
			}
		}
	})
}

// countingFlusher is a writer that counts flushes.
type countingFlusher struct {
	bytes.Buffer
	flushes int
}

func (c *countingFlusher) Flush() { c.flushes++ }

// TestWriteDeferredLeavesFlushing: Write flushes each event; WriteDeferred
// does not, and Flush sends what it wrote.
func TestWriteDeferredLeavesFlushing(t *testing.T) {
	var c countingFlusher
	w := NewWriter(&c)
	if err := w.WriteDeferred(Event{ID: "1", HasID: true, Retry: 1000 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDeferred(Event{ID: "2", HasID: true, Data: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if c.flushes != 0 {
		t.Fatalf("%d flushes after WriteDeferred, want 0", c.flushes)
	}
	w.Flush()
	if err := w.Write(Event{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if c.flushes != 2 {
		t.Errorf("%d flushes, want 2 (Flush, Write)", c.flushes)
	}
	if got, want := c.String(), "id: 1\nretry: 1000\ndata: \n\nid: 2\ndata: {\"a\":1}\n\ndata: x\n\n"; got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	if err := w.WriteDeferred(Event{ID: "a\nb"}); !errors.Is(err, ErrBadField) {
		t.Errorf("bad id: %v, want ErrBadField", err)
	}
}

func TestWriterDeferredIDAndRelease(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out)
	if err := w.WriteDeferredID([]byte("T_1_1"), Event{Retry: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	w.Release() // the buffer goes back; the Writer takes one again
	if err := w.WriteDeferredID([]byte("T_1_2"), Event{Data: []byte(`{"a":1}`)}); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteDeferred(Event{ID: "x", Data: []byte("y")}); err != nil {
		t.Fatal(err)
	}
	want := "id: T_1_1\nretry: 2000\ndata: \n\nid: T_1_2\ndata: {\"a\":1}\n\nid: x\ndata: y\n\n"
	if got := out.String(); got != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	if err := w.WriteDeferredID([]byte("a\nb"), Event{}); !errors.Is(err, ErrBadField) {
		t.Errorf("an id with a line break: %v, want ErrBadField", err)
	}
}
