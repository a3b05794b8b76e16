package metrics

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"sync"
)

// The few process and runtime metrics worth a dashboard, with the names and
// help texts prometheus/client_golang's collectors give them. They are read
// at scrape time: the Go runtime's from runtime.ReadMemStats, the process's
// from /proc/self/stat, and are left out where /proc is not there.
// ReadMemStats stops the world for a few microseconds once a scrape;
// runtime/metrics would not, but linking it runs its initialiser (a map of
// every runtime metric, 15 KB in 95 allocations) at every start of the
// binary, metrics on or off.

// userHZ is the unit of the CPU times and the start time in /proc/PID/stat.
// It is 100 on every Linux architecture Go supports (procfs, which
// client_golang uses, assumes the same).
const userHZ = 100

func writeRuntime(w *textWriter) {
	w.family("go_goroutines", "Number of goroutines that currently exist.", "gauge")
	w.int("go_goroutines", int64(runtime.NumGoroutine()))

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	w.family("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use. Equals to /memory/classes/heap/objects:bytes.", "gauge")
	w.uint("go_memstats_heap_alloc_bytes", ms.HeapAlloc)
}

// procStat is what tollgate reports from /proc/self/stat.
type procStat struct {
	cpuSeconds float64 // utime + stime
	startTicks uint64  // since boot, in 1/userHZ s
	rssPages   uint64
}

// readProcStat reads /proc/self/stat.
func readProcStat() (procStat, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseProcStat(b)
}

// parseProcStat parses a /proc/PID/stat line. The command name (field 2)
// is in parentheses and may itself hold spaces and parentheses, so fields
// are counted from the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errBadStat
	}
	// Field 3 (state) is the first after ") ".
	f := bytes.Fields(b[i+1:])
	field := func(n int) (uint64, error) {
		if n-3 >= len(f) {
			return 0, errBadStat
		}
		return strconv.ParseUint(string(f[n-3]), 10, 64)
	}
	var (
		s    procStat
		vals [4]uint64
	)
	for j, n := range []int{14, 15, 22, 24} { // utime, stime, starttime, rss
		v, err := field(n)
		if err != nil {
			return procStat{}, errBadStat
		}
		vals[j] = v
	}
	s.cpuSeconds = float64(vals[0]+vals[1]) / userHZ
	s.startTicks = vals[2]
	s.rssPages = vals[3]
	return s, nil
}

// bootTime reads the btime line of /proc/stat (seconds since the epoch),
// once.
var bootTime = sync.OnceValues(func() (uint64, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return parseBootTime(b)
})

func parseBootTime(b []byte) (uint64, error) {
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseUint(string(bytes.TrimSpace(rest)), 10, 64)
		}
	}
	return 0, errBadStat
}

func writeProcess(w *textWriter) {
	s, err := readProcStat()
	if err != nil {
		return
	}
	w.family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", "counter")
	w.float("process_cpu_seconds_total", s.cpuSeconds)
	w.family("process_resident_memory_bytes", "Resident memory size in bytes.", "gauge")
	w.uint("process_resident_memory_bytes", s.rssPages*uint64(os.Getpagesize()))
	if bt, err := bootTime(); err == nil {
		w.family("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", "gauge")
		w.float("process_start_time_seconds", float64(bt)+float64(s.startTicks)/userHZ)
	}
}
