package jsonrpc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
)

// DefaultMaxFrame is the default limit on one message: 64 MiB.
const DefaultMaxFrame = 64 << 20

// ErrFrameTooLarge is returned (wrapped) by Reader.Next for a line longer than
// the limit. The line has been consumed; the next call reads the next line.
var ErrFrameTooLarge = errors.New("message too large")

// Reader reads newline-delimited frames, the stdio framing of MCP. It is not
// safe for concurrent use.
type Reader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread data is buf[start:end]
	scanned    int // buf[start:scanned] holds no newline
	max        int
	err        error
}

// NewReader returns a Reader of frames up to max bytes (DefaultMaxFrame when
// max <= 0).
func NewReader(r io.Reader, max int) *Reader {
	if max <= 0 {
		max = DefaultMaxFrame
	}
	return &Reader{r: r, buf: make([]byte, 64<<10), max: max}
}

// Next returns the next non-blank line without its line ending. The slice is
// valid until the following call. At the end of input it returns io.EOF (a
// final line without newline is returned first).
func (r *Reader) Next() ([]byte, error) {
	discarding := false
	for {
		if i := bytes.IndexByte(r.buf[r.scanned:r.end], '\n'); i >= 0 {
			nl := r.scanned + i
			line := r.buf[r.start:nl]
			r.start, r.scanned = nl+1, nl+1
			if discarding || len(line) > r.max {
				return nil, fmt.Errorf("read frame: %w (limit %d bytes)", ErrFrameTooLarge, r.max)
			}
			line = bytes.TrimRight(line, "\r")
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			return line, nil
		}
		r.scanned = r.end
		if r.end-r.start > r.max {
			discarding = true
			r.start, r.end, r.scanned = 0, 0, 0
		}
		if r.err != nil {
			if discarding {
				r.start, r.end, r.scanned = 0, 0, 0
				return nil, fmt.Errorf("read frame: %w (limit %d bytes)", ErrFrameTooLarge, r.max)
			}
			if r.end > r.start {
				line := bytes.TrimRight(r.buf[r.start:r.end], "\r")
				r.start, r.scanned = r.end, r.end
				if len(line) > r.max {
					return nil, fmt.Errorf("read frame: %w (limit %d bytes)", ErrFrameTooLarge, r.max)
				}
				if len(bytes.TrimSpace(line)) > 0 {
					return line, nil
				}
			}
			return nil, r.err
		}
		r.fill()
	}
}

// Buffered reports whether another whole line is already buffered, so that
// the next Next will not block: a caller relaying a burst of frames can hold
// back its flush until the burst ends.
func (r *Reader) Buffered() bool {
	return bytes.IndexByte(r.buf[r.scanned:r.end], '\n') >= 0
}

// fill reads more input, compacting or growing the buffer first.
func (r *Reader) fill() {
	if r.start > 0 && (r.end == len(r.buf) || r.start == r.end) {
		n := copy(r.buf, r.buf[r.start:r.end])
		r.scanned -= r.start
		r.start, r.end = 0, n
	}
	if r.end == len(r.buf) {
		size := 2 * len(r.buf)
		if limit := r.max + 1<<16; size > limit {
			size = limit
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.end])
		r.buf = nb
	}
	n, err := r.r.Read(r.buf[r.end:])
	r.end += n
	if err != nil {
		r.err = err
	}
}

// Writer writes frames, each followed by a newline, as one write where it
// can. It is safe for concurrent use; frames are never interleaved.
//
// Each frame goes out as exactly one line: a CR or LF byte inside a frame is
// written as a space. In a JSON text those bytes can only be white space
// (a string must escape them), so the message means the same; but a reader
// that ends lines at a CR (Python's universal newlines, Node's readline) or
// a frame that arrived with line breaks (a pretty-printed HTTP body) would
// otherwise make the peer read two messages where Tollgate judged one.
type Writer struct {
	mu sync.Mutex
	w  *bufio.Writer
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriterSize(w, 64<<10)} }

// WriteDeferred writes one frame without flushing: it goes out with the next
// Write or Flush (or when the buffer fills).
func (w *Writer) WriteDeferred(frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.line(frame)
}

// Flush sends whatever WriteDeferred left buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// Write writes one frame and flushes it.
func (w *Writer) Write(frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.line(frame); err != nil {
		return err
	}
	if err := w.w.Flush(); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

// line buffers frame and its newline, each CR or LF inside it as a space
// (see Writer). The caller's frame is not modified. w.mu is held. Each
// byte is scanned once for each of the two (vectorised IndexByte), however
// many breaks the frame holds.
func (w *Writer) line(frame []byte) error {
	lf, cr := bytes.IndexByte(frame, '\n'), bytes.IndexByte(frame, '\r')
	off := 0 // frame[:off] is written
	for lf >= 0 || cr >= 0 {
		i := lf
		if i < 0 || (cr >= 0 && cr < i) {
			i = cr
		}
		if _, err := w.w.Write(frame[off:i]); err != nil {
			return fmt.Errorf("write frame: %w", err)
		}
		if err := w.w.WriteByte(' '); err != nil {
			return fmt.Errorf("write frame: %w", err)
		}
		off = i + 1
		if i == lf {
			if lf = bytes.IndexByte(frame[off:], '\n'); lf >= 0 {
				lf += off
			}
		} else if cr = bytes.IndexByte(frame[off:], '\r'); cr >= 0 {
			cr += off
		}
	}
	if _, err := w.w.Write(frame[off:]); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	if err := w.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}
