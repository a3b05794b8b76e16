package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Follower reads the lines appended to the chain files of a directory since
// its last Poll: what a live view tails. It reads whole lines only (a line
// still being written is read once its '\n' is there), picks up files that
// rotation or a new chain creates, and starts a file again from its
// beginning when it shrank (replaced). It does not verify the chain. A
// Follower is not safe for concurrent use.
type Follower struct {
	dir string
	// MaxBacklog bounds what the first Poll reads of each file: only its
	// last MaxBacklog bytes (from the first line start in them). 0 reads
	// whole files.
	MaxBacklog int64
	offs       map[string]int64
}

// NewFollower returns a Follower of dir whose first Poll reads the lines
// already there.
func NewFollower(dir string) *Follower {
	return &Follower{dir: dir, offs: map[string]int64{}}
}

// Poll calls fn for each complete line appended since the last Poll, in
// chain and file order. Lines that do not parse are skipped and counted in
// bad. A directory that does not exist yet has no lines.
func (f *Follower) Poll(fn func(ChainFile, *Record)) (bad int, err error) {
	files, err := ListFiles(f.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("follow audit files: %w", err)
	}
	seen := make(map[string]bool, len(files))
	for _, cf := range files {
		seen[cf.Path] = true
		n, err := f.pollFile(cf, fn)
		bad += n
		if err != nil {
			return bad, fmt.Errorf("follow audit file %s: %w", cf.Path, err)
		}
	}
	for p := range f.offs {
		if !seen[p] {
			delete(f.offs, p)
		}
	}
	return bad, nil
}

func (f *Follower) pollFile(cf ChainFile, fn func(ChainFile, *Record)) (bad int, err error) {
	fh, err := os.Open(cf.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil // removed between the listing and now
		}
		return 0, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return 0, err
	}
	off, known := f.offs[cf.Path]
	skipPartial := false
	switch {
	case known && fi.Size() < off:
		off = 0 // the file was replaced by a shorter one
	case !known && f.MaxBacklog > 0 && fi.Size() > f.MaxBacklog:
		off = fi.Size() - f.MaxBacklog
		skipPartial = true
	}
	if fi.Size() == off {
		f.offs[cf.Path] = off
		return 0, nil
	}
	data := make([]byte, fi.Size()-off)
	n, err := fh.ReadAt(data, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	data = data[:n]
	start := 0
	if skipPartial {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			f.offs[cf.Path] = off
			return 0, nil
		}
		start = i + 1
	}
	end := bytes.LastIndexByte(data, '\n')
	if end < start {
		f.offs[cf.Path] = off + int64(start)
		return 0, nil
	}
	for line := range bytes.SplitSeq(data[start:end], []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		if rec, perr := ParseLine(line); perr == nil {
			fn(cf, rec)
		} else {
			bad++
		}
	}
	f.offs[cf.Path] = off + int64(end) + 1
	return bad, nil
}
