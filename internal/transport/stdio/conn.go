// Package stdio carries MCP over newline-delimited JSON: the client side on
// Tollgate's own stdin and stdout, and the upstream side on a child process's
// pipes.
package stdio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// Conn is a transport.Conn over a reader and a writer.
type Conn struct {
	r      *jsonrpc.Reader
	w      *jsonrpc.Writer
	in     io.Closer // closed by Close to unblock Read
	out    io.Closer // closed by CloseWrite and Close
	once   sync.Once
	closed chan struct{}
	wonce  sync.Once
	wdone  chan struct{} // closed once out is closed

	// The pipes are grown (see growPipe) on the first message larger than
	// a default pipe holds: only a connection that carries large messages
	// takes the memory, which counts against the user's pipe quota.
	inFile, outFile *os.File
	growIn, growOut sync.Once

	rawIn, rawOut bool // read or written through rawFile
}

// defaultPipe is what a Linux pipe holds unless grown.
const defaultPipe = 64 << 10

var _ transport.Conn = (*Conn)(nil)
var _ transport.HalfCloser = (*Conn)(nil)
var _ transport.Deferrer = (*Conn)(nil)

// NewConn returns a Conn reading frames of at most maxFrame bytes from in and
// writing to out. in and out are closed by Close when they are io.Closers.
func NewConn(in io.Reader, out io.Writer, maxFrame int) *Conn {
	c := &Conn{closed: make(chan struct{}), wdone: make(chan struct{})}
	c.in, _ = in.(io.Closer)
	c.out, _ = out.(io.Closer)
	c.inFile, _ = in.(*os.File)
	c.outFile, _ = out.(*os.File)
	// Non-blocking pipes are read and written with raw system calls (see
	// rawFile); the Closers stay the files themselves.
	if r := newRawFile(c.inFile); r != nil {
		in, c.rawIn = r, true
	}
	if w := newRawFile(c.outFile); w != nil {
		out, c.rawOut = w, true
	}
	c.r, c.w = jsonrpc.NewReader(in, maxFrame), jsonrpc.NewWriter(out)
	return c
}

// Read returns the next frame; see transport.Conn.
func (c *Conn) Read() ([]byte, error) {
	b, err := c.r.Next()
	if err != nil {
		select {
		case <-c.closed:
			return nil, fmt.Errorf("stdio read: %w", transport.ErrClosed)
		default:
		}
		if errors.Is(err, os.ErrClosed) {
			return nil, fmt.Errorf("stdio read: %w", transport.ErrClosed)
		}
		return nil, err
	}
	if len(b) > defaultPipe && c.inFile != nil {
		c.growIn.Do(func() { growPipe(c.inFile) }) // for the next large one
	}
	return b, nil
}

// sizeFor grows the output pipe before the first frame that would not fit
// a default one.
func (c *Conn) sizeFor(frame []byte) {
	if len(frame) > defaultPipe && c.outFile != nil {
		c.growOut.Do(func() { growPipe(c.outFile) })
	}
}

// More reports whether another frame is already buffered for Read.
func (c *Conn) More() bool { return c.r.Buffered() }

// WriteDeferred buffers one frame; see transport.Deferrer.
func (c *Conn) WriteDeferred(frame []byte) error {
	c.sizeFor(frame)
	return c.w.WriteDeferred(frame)
}

// Flush sends buffered frames; see transport.Deferrer.
func (c *Conn) Flush() error { return c.w.Flush() }

// Write sends one frame; see transport.Conn.
func (c *Conn) Write(frame []byte) error {
	c.sizeFor(frame)
	return c.w.Write(frame)
}

// CloseWrite closes the output side, telling the peer no more input comes.
// It may be called more than once, and with Close.
func (c *Conn) CloseWrite() error {
	var err error
	c.wonce.Do(func() {
		if c.out != nil {
			err = c.out.Close()
		}
		close(c.wdone)
	})
	return err
}

// WriteClosed is closed once CloseWrite or Close has closed the output side.
func (c *Conn) WriteClosed() <-chan struct{} { return c.wdone }

// Close closes both sides. It may be called more than once.
func (c *Conn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		if c.in != nil {
			_ = c.in.Close()
		}
		_ = c.CloseWrite()
	})
	return nil
}
