// Package rawio reads and writes the non-blocking descriptors the Go
// runtime's poller knows (pipes, sockets) with raw system calls, and waits
// for their readiness through the poller (Linux only; elsewhere it is
// empty and its users keep the standard library's calls).
//
// The standard library makes the same calls through syscall.Syscall,
// whose entersyscall wakes the runtime's monitor thread (sysmon) with a
// futex whenever the process was idle. A proxy with one call in flight is
// idle between any two messages, so every message paid that wake-up, and
// on a small VM the wake-up and the monitor's 20 µs polling that follows
// cost more than the read itself (docs/performance.md). A read or write of
// a non-blocking descriptor never blocks, which is what makes a raw system
// call safe: the goroutine never holds its processor in the kernel.
package rawio
