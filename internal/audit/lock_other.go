//go:build !unix

package audit

import "os"

// tryLock is a no-op where flock is unavailable: one Tollgate per audit
// directory.
func tryLock(f *os.File) (held bool, err error) { return false, nil }

func freeSpace(dir string) (uint64, bool) { return 0, false }
