//go:build linux && race

package rawio

import "syscall"

// Under the race detector, reads and writes go through syscall.Read and
// syscall.Write: they tell the detector that what one goroutine wrote
// before writing to a pipe happens before what another does after reading
// it (through the peer process), which raw system calls would hide and so
// report races that are not there.
func sysRead(fd uintptr, p []byte) (int, syscall.Errno) { return errno(syscall.Read(int(fd), p)) }

func sysWrite(fd uintptr, p []byte) (int, syscall.Errno) { return errno(syscall.Write(int(fd), p)) }

func sysPeek(fd uintptr) (int, syscall.Errno) {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return errno(n, err)
}

func errno(n int, err error) (int, syscall.Errno) {
	if err != nil {
		e, ok := err.(syscall.Errno)
		if !ok {
			e = syscall.EIO
		}
		return 0, e
	}
	return n, 0
}
