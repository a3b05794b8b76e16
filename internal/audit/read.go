package audit

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Scan calls fn for every line of the chain files in dir that may hold
// records from since on: files modified before since are skipped, except
// the newest file of each chain. Lines that do not parse are skipped and
// counted in bad. It does not verify the chain (see Verify).
func Scan(dir string, since time.Time, fn func(f ChainFile, r *Record)) (bad int, err error) {
	files, err := ListFiles(dir)
	if err != nil {
		return 0, err
	}
	for i, f := range files {
		newest := i == len(files)-1 || files[i+1].Chain != f.Chain
		if !newest {
			if fi, err := os.Stat(f.Path); err == nil && fi.ModTime().Before(since) {
				continue
			}
		}
		n, err := scanFile(f, fn)
		bad += n
		if err != nil {
			return bad, err
		}
	}
	return bad, nil
}

func scanFile(f ChainFile, fn func(ChainFile, *Record)) (bad int, err error) {
	fh, err := os.Open(f.Path)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	r := bufio.NewReaderSize(fh, 256<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			if rec, perr := ParseLine(trimNL(line)); perr == nil {
				fn(f, rec)
			} else {
				bad++
			}
		}
		if errors.Is(err, io.EOF) {
			return bad, nil
		}
		if err != nil {
			return bad, err
		}
	}
}

func trimNL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		return b[:n-1]
	}
	return b
}

// Running reports whether a process holds chain's lock in dir: a Tollgate
// is writing that chain now.
func Running(dir string, chain int) bool {
	f, err := os.OpenFile(filepath.Join(dir, lockFileName(chain)), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close() // releases the lock if we took it
	held, err := tryLock(f)
	return err == nil && held
}

// FreeSpace returns the bytes available on dir's filesystem; ok is false
// where that cannot be known.
func FreeSpace(dir string) (bytes uint64, ok bool) { return freeSpace(dir) }
