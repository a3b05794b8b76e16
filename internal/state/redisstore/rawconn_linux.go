package redisstore

import (
	"context"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/tollgate-mcp/tollgate/internal/rawio"
)

// rawDialer wraps dial so that a plain TCP or Unix connection to Redis is
// read and written with raw system calls (package rawio): with one call in
// flight, the standard library's calls woke the runtime's monitor thread
// at every reservation (measured, docs/performance.md). A TLS connection
// is left as dial made it.
func rawDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newRawConn(c), nil
	}
}

// rawConn is a *net.TCPConn or *net.UnixConn read and written through
// rawio. Deadlines, addresses and Close are the connection's own, and the
// poller that rawio waits through honours the deadlines.
type rawConn struct {
	net.Conn
	rc syscall.RawConn
}

// newRawConn returns c read and written through rawio, or c itself when it
// is not a TCP or Unix connection.
func newRawConn(c net.Conn) net.Conn {
	var sc syscall.Conn
	switch c := c.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	return &rawConn{Conn: c, rc: rc}
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, errno, err := rawio.Read(c.rc, p)
	switch {
	case err != nil:
		return 0, err // a *net.OpError: closed, or the deadline passed
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

func (c *rawConn) Write(p []byte) (int, error) {
	done, errno, err := rawio.Write(c.rc, p)
	switch {
	case err != nil:
		return done, err
	case errno != 0:
		return done, c.opError("write", errno)
	}
	return done, nil
}

func (c *rawConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: c.LocalAddr().Network(), Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}

// SyscallConn implements syscall.Conn for go-redis's check of a pooled
// connection before it is used again (a peek that finds a connection
// Redis closed), without the standard library's system call: see
// checkedConn.
func (c *rawConn) SyscallConn() (syscall.RawConn, error) { return checkedConn{c.rc}, nil }

// checkedConn is the syscall.RawConn of a rawConn. Its Read first peeks
// with a raw system call, and calls f only when the socket has something
// to report (data, the end of the stream, an error): go-redis's check is
// such an f, a non-blocking peek of its own, and when the raw peek finds
// nothing it would learn only that, which is what not calling it tells
// go-redis. Control and Write are the connection's own.
type checkedConn struct{ syscall.RawConn }

func (c checkedConn) Read(f func(fd uintptr) bool) error {
	if quiet, err := rawio.Quiet(c.RawConn); err == nil && quiet {
		return nil
	}
	return c.RawConn.Read(f)
}
