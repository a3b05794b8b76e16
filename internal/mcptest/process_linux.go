package mcptest

import (
	"os/exec"
	"syscall"
)

// parentDeathSignal reports whether dieWithTest does anything here.
const parentDeathSignal = true

// dieWithTest has the kernel kill cmd's process when the test binary dies,
// even by a panic or a signal that runs no cleanup; without it a
// redis-server or a Node server outlives the test binary and keeps its port
// and memory until the machine restarts. (The signal is sent when the
// thread that started the process exits. The Go runtime keeps its threads
// for the life of the process, unless a goroutine locked to one exits
// locked, which no helper here does.)
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
