package stdio

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/tollgate-mcp/tollgate/internal/rawio"
)

// rawFile reads and writes a non-blocking descriptor (a pipe or socket the
// runtime's poller knows) with raw system calls (package rawio), and waits
// for readiness through the poller. An *os.File makes the same calls
// through syscall.Syscall, whose entersyscall wakes the runtime's monitor
// thread at every message when one call is in flight: see rawio.
type rawFile struct {
	f  *os.File
	rc syscall.RawConn
}

// newRawFile returns a rawFile for f, or nil when f is not a non-blocking
// descriptor the poller knows.
func newRawFile(f *os.File) *rawFile {
	if f == nil {
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	nonblock := false
	_ = rc.Control(func(fd uintptr) {
		flags, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
		nonblock = e == 0 && flags&syscall.O_NONBLOCK != 0
	})
	if !nonblock {
		return nil
	}
	return &rawFile{f: f, rc: rc}
}

// Read implements io.Reader. It waits for input through the poller, and
// returns io.EOF once every writer has closed the pipe and an error
// wrapping os.ErrClosed once the file is closed.
func (r *rawFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, errno, err := rawio.Read(r.rc, p)
	switch {
	case err != nil:
		return 0, &os.PathError{Op: "read", Path: r.f.Name(), Err: closedErr(err)}
	case errno != 0:
		return 0, &os.PathError{Op: "read", Path: r.f.Name(), Err: errno}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// Write implements io.Writer. It writes all of p, waiting through the
// poller while the pipe is full; a short count comes with an error.
func (r *rawFile) Write(p []byte) (int, error) {
	done, errno, err := rawio.Write(r.rc, p)
	switch {
	case err != nil:
		return done, &os.PathError{Op: "write", Path: r.f.Name(), Err: closedErr(err)}
	case errno != 0:
		return done, &os.PathError{Op: "write", Path: r.f.Name(), Err: errno}
	}
	return done, nil
}

// closedErr marks an error of the poller's wait as os.ErrClosed: with no
// deadline set, the only way that wait fails is the file being closed.
func closedErr(err error) error { return fmt.Errorf("%w (%v)", os.ErrClosed, err) }
