// Package sse reads and writes Server-Sent Events (the text/event-stream
// format of the HTML standard) and carries MCP over the legacy HTTP+SSE
// transport of protocol revision 2024-11-05: the client side lives in
// client.go, and event.go is the event codec that both the client and
// Tollgate's HTTP front share.
package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// Event is one server-sent event.
type Event struct {
	// ID is the value of the event's id field, "" when it had none.
	ID string
	// HasID reports whether the event carried an id field (an empty id
	// resets the last event id).
	HasID bool
	// Name is the event field: "" (which means "message"), "endpoint", ….
	Name string
	// Data is the data, lines joined by "\n". It may be empty: MCP servers
	// send an event with an id and no data to prime a resumable stream.
	Data []byte
	// Retry is the reconnection time the event asked for, 0 when absent.
	Retry time.Duration
}

// ErrEventTooLarge is wrapped by Reader.Next when an event's data exceeds
// the reader's limit. It wraps jsonrpc.ErrFrameTooLarge.
var ErrEventTooLarge = fmt.Errorf("sse event: %w", jsonrpc.ErrFrameTooLarge)

// Reader reads events from a stream. Lines may be of any length up to the
// limit; CRLF, LF and CR all end a line. It is not safe for concurrent use.
type Reader struct {
	r      io.Reader
	max    int
	buf    []byte
	start  int
	end    int
	skipLF bool // the last line ended with CR: a following LF belongs to it
	err    error
	data   []byte
}

// NewReader returns a Reader of events whose data is at most max bytes
// (max <= 0 means jsonrpc.DefaultMaxFrame).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = jsonrpc.DefaultMaxFrame
	}
	return &Reader{r: r, max: max, buf: make([]byte, 32<<10)}
}

// Next returns the next event. Event.Data aliases the reader's buffer and is
// valid until the next call. At the end of the stream it returns io.EOF (an
// unfinished event at the end is dropped, as the standard says); a stream
// cut mid-way returns the underlying error.
func (r *Reader) Next() (Event, error) {
	var ev Event
	r.data = r.data[:0]
	seen := false
	hasData := false
	for {
		line, err := r.line()
		if err != nil {
			return Event{}, err
		}
		if len(line) == 0 {
			if !seen {
				continue
			}
			if hasData {
				ev.Data = r.data
			}
			return ev, nil
		}
		if line[0] == ':' {
			continue // comment, keep-alive
		}
		seen = true
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				r.data = append(r.data, '\n')
			}
			hasData = true
			if len(r.data)+len(value) > r.max {
				return Event{}, ErrEventTooLarge
			}
			r.data = append(r.data, value...)
		case "event":
			ev.Name = string(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				ev.ID, ev.HasID = string(value), true
			}
		case "retry":
			if n, err := strconv.ParseUint(string(value), 10, 31); err == nil {
				ev.Retry = time.Duration(n) * time.Millisecond
			}
		}
	}
}

// line returns the next line without its terminator; it aliases r.buf.
func (r *Reader) line() ([]byte, error) {
	scanned := 0
	for {
		if r.skipLF && r.start < r.end {
			if r.buf[r.start] == '\n' {
				r.start++
			}
			r.skipLF = false
		}
		if i := bytes.IndexAny(r.buf[r.start+scanned:r.end], "\r\n"); i >= 0 {
			i += r.start + scanned
			line := r.buf[r.start:i]
			r.skipLF = r.buf[i] == '\r'
			r.start = i + 1
			return line, nil
		}
		scanned = r.end - r.start
		if r.err != nil {
			return nil, r.err
		}
		if scanned > r.max+64 {
			return nil, ErrEventTooLarge
		}
		r.fill()
	}
}

func (r *Reader) fill() {
	if r.start > 0 {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.start, r.end = 0, n
	}
	if r.end == len(r.buf) {
		grown := make([]byte, 2*len(r.buf))
		copy(grown, r.buf[:r.end])
		r.buf = grown
	}
	n, err := r.r.Read(r.buf[r.end:])
	r.end += n
	if err != nil {
		r.err = err
	}
}

// Writer writes events to an HTTP response (or any writer), flushing after
// each one when the writer is an http.Flusher (WriteDeferred leaves that to
// a later Flush). It is not safe for concurrent use: serialise calls.
type Writer struct {
	w   io.Writer
	f   http.Flusher
	buf []byte
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer {
	f, _ := w.(http.Flusher)
	return &Writer{w: w, f: f}
}

// ErrBadField is returned by Writer.Write for an id or event name that
// contains a line break or NUL and so cannot be written as a field.
var ErrBadField = errors.New("sse: id or event name contains a line break")

// Write writes one event: its id and event fields when set, retry when
// positive, and its data split into one data line per line of e.Data (a
// JSON-RPC frame is usually one line). An event with no data is written
// with an empty data field, as MCP's priming events are.
func (w *Writer) Write(e Event) error {
	if err := w.WriteDeferred(e); err != nil {
		return err
	}
	w.Flush()
	return nil
}

// WriteDeferred writes one event as Write does, without flushing: several
// events, or an event and the end of the response, then leave in one
// write.
func (w *Writer) WriteDeferred(e Event) error {
	if strings.ContainsAny(e.ID, "\r\n\x00") {
		return ErrBadField
	}
	return w.writeDeferred(e.ID, nil, e.ID != "" || e.HasID, e)
}

// WriteDeferredID writes e as WriteDeferred does, with id as its id field
// in place of e.ID and e.HasID: a caller that builds ids in a buffer of its
// own writes them without making a string of each.
func (w *Writer) WriteDeferredID(id []byte, e Event) error {
	if bytes.ContainsAny(id, "\r\n\x00") {
		return ErrBadField
	}
	return w.writeDeferred("", id, true, e)
}

// writeDeferred writes e with the id idS or idB (whichever is set) when
// hasID.
func (w *Writer) writeDeferred(idS string, idB []byte, hasID bool, e Event) error {
	if strings.ContainsAny(e.Name, "\r\n") {
		return ErrBadField
	}
	if w.buf == nil {
		if p, _ := bufPool.Get().(*[]byte); p != nil {
			w.buf = *p
		}
	}
	b := w.buf[:0]
	if hasID {
		b = append(b, "id: "...)
		b = append(b, idS...)
		b = append(b, idB...)
		b = append(b, '\n')
	}
	if e.Name != "" {
		b = append(b, "event: "...)
		b = append(b, e.Name...)
		b = append(b, '\n')
	}
	if e.Retry > 0 {
		b = append(b, "retry: "...)
		b = strconv.AppendInt(b, e.Retry.Milliseconds(), 10)
		b = append(b, '\n')
	}
	data := e.Data
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			b = append(b, "data: "...)
			b = append(b, data...)
			b = append(b, '\n')
			break
		}
		b = append(b, "data: "...)
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	b = append(b, '\n')
	w.buf = b
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("write sse event: %w", err)
	}
	return nil
}

// Release gives the Writer's buffer back for reuse by other Writers. The
// Writer stays usable (it takes a buffer again when it next writes).
func (w *Writer) Release() {
	if w.buf != nil && cap(w.buf) <= maxPooledBuf {
		b := w.buf[:0]
		bufPool.Put(&b)
	}
	w.buf = nil
}

// bufPool holds Writer buffers: an answer stream writes a few events and
// ends, and its buffer serves the next stream.
var bufPool sync.Pool

// maxPooledBuf bounds the buffers kept in bufPool: one that grew for a
// large message is left to the garbage collector.
const maxPooledBuf = 64 << 10

// Flush sends what was written when the writer is an http.Flusher.
func (w *Writer) Flush() {
	if w.f != nil {
		w.f.Flush()
	}
}

// Comment writes a comment line (": text"), which readers ignore; servers
// send one now and then to keep idle streams open through intermediaries.
func (w *Writer) Comment(text string) error {
	b := append(w.buf[:0], ": "...)
	for i := 0; i < len(text); i++ {
		if c := text[i]; c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	b = append(b, "\n\n"...)
	w.buf = b
	return w.flush(b)
}

func (w *Writer) flush(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("write sse event: %w", err)
	}
	if w.f != nil {
		w.f.Flush()
	}
	return nil
}
