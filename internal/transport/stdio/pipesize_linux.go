package stdio

import (
	"os"
	"syscall"
)

// pipeSize is the buffer Tollgate asks the kernel for on a pipe that
// carries large messages: a 1 MiB tool result then crosses in one write
// and one read instead of sixteen of each, each a wake-up of the other
// side. It is the default limit for unprivileged processes
// (/proc/sys/fs/pipe-max-size).
const pipeSize = 1 << 20

// growPipe asks for a pipeSize buffer on f's pipe. It is best effort: a
// refusal (a lower system limit, or the user's pipe memory quota) leaves
// the default 64 KiB, which works, only slower.
func growPipe(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_SETPIPE_SZ, pipeSize)
	})
}
