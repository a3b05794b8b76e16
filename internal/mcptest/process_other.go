//go:build !linux

package mcptest

import "os/exec"

// parentDeathSignal reports whether dieWithTest does anything here.
const parentDeathSignal = false

// dieWithTest does nothing where the kernel has no parent-death signal: a
// test binary that dies without running its cleanups leaves its peers
// running.
func dieWithTest(*exec.Cmd) {}
