package rawio

import "syscall"

// Read reads into p (len(p) > 0) from the descriptor behind rc, waiting
// through the poller until it is readable. n is 0 at the end of the
// stream; errno is the read's own error; err is the poller's (the
// descriptor closed, a deadline passed), as rc.Read returns it.
func Read(rc syscall.RawConn, p []byte) (n int, errno syscall.Errno, err error) {
	err = rc.Read(func(fd uintptr) bool {
		for {
			m, e := sysRead(fd, p)
			switch e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				return false
			}
			n, errno = max(m, 0), e
			return true
		}
	})
	return n, errno, err
}

// Write writes all of p to the descriptor behind rc, waiting through the
// poller while it is full. done is what was written; errno is a write's own
// error, err the poller's, as rc.Write returns it.
func Write(rc syscall.RawConn, p []byte) (done int, errno syscall.Errno, err error) {
	err = rc.Write(func(fd uintptr) bool {
		for done < len(p) {
			m, e := sysWrite(fd, p[done:])
			switch e {
			case 0:
				done += m
			case syscall.EINTR:
			case syscall.EAGAIN:
				return false
			default:
				errno = e
				return true
			}
		}
		return true
	})
	return done, errno, err
}

// Quiet reports whether reading the socket behind rc would wait: no data,
// no end of stream, no error pending. It never waits itself.
func Quiet(rc syscall.RawConn) (bool, error) {
	quiet := false
	err := rc.Control(func(fd uintptr) {
		for {
			switch _, e := sysPeek(fd); e {
			case syscall.EINTR:
				continue
			case syscall.EAGAIN:
				quiet = true
			}
			return
		}
	})
	return quiet, err
}
