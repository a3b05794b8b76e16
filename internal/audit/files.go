package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// File is what a Log writes to; *os.File implements it. Tests inject
// failing files through Options.OpenFile.
type File interface {
	io.Writer
	Stat() (fs.FileInfo, error)
	Truncate(size int64) error
	Sync() error
	Close() error
}

// openAppend is the default Options.OpenFile.
func openAppend(path string) (File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

// ChainFile is one file of a chain, as named in a directory.
type ChainFile struct {
	Path  string
	Chain int // K in tollgate-K-NNNNNN.jsonl
	Num   int // NNNNNN
}

func chainFileName(chain, num int) string {
	return fmt.Sprintf("tollgate-%d-%06d.jsonl", chain, num)
}

func lockFileName(chain int) string { return fmt.Sprintf("tollgate-%d.lock", chain) }

// parseChainFileName parses tollgate-K-NNNNNN.jsonl.
func parseChainFileName(name string) (chain, num int, ok bool) {
	rest, ok := strings.CutPrefix(name, "tollgate-")
	if !ok {
		return 0, 0, false
	}
	rest, ok = strings.CutSuffix(rest, ".jsonl")
	if !ok {
		return 0, 0, false
	}
	k, n, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, 0, false
	}
	var err1, err2 error
	chain, err1 = strconv.Atoi(k)
	num, err2 = strconv.Atoi(n)
	if err1 != nil || err2 != nil || chain < 0 || num < 1 {
		return 0, 0, false
	}
	return chain, num, true
}

// ListFiles returns the chain files in dir, ordered by chain and then by
// file number.
func ListFiles(dir string) ([]ChainFile, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list audit files: %w", err)
	}
	var out []ChainFile
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		if k, n, ok := parseChainFileName(e.Name()); ok {
			out = append(out, ChainFile{Path: filepath.Join(dir, e.Name()), Chain: k, Num: n})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Chain != out[j].Chain {
			return out[i].Chain < out[j].Chain
		}
		return out[i].Num < out[j].Num
	})
	return out, nil
}

// tail describes how a chain file ends.
type tail struct {
	last    []byte // the last complete line, without '\n'; nil when none
	partial bool   // bytes follow the last '\n'
}

// maxLineLen bounds how far back readTail looks for a line start.
const maxLineLen = 64 << 20

// readTail finds the last complete line of the file at path, reading
// backwards from its end in growing chunks.
func readTail(path string) (tail, error) {
	f, err := os.Open(path)
	if err != nil {
		return tail{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return tail{}, err
	}
	size := fi.Size()
	if size == 0 {
		return tail{}, nil
	}
	for chunk := int64(64 << 10); ; chunk *= 2 {
		start := max(size-chunk, 0)
		buf := make([]byte, size-start)
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return tail{}, err
		}
		t := tail{partial: buf[len(buf)-1] != '\n'}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			body := buf[:i]
			if j := bytes.LastIndexByte(body, '\n'); j >= 0 {
				t.last = bytes.Clone(body[j+1:])
				return t, nil
			}
			if start == 0 {
				t.last = bytes.Clone(body)
				return t, nil
			}
		} else if start == 0 {
			return t, nil // one partial line and nothing complete
		}
		if chunk > maxLineLen {
			return tail{}, fmt.Errorf("read audit file %s: last line longer than %d bytes", path, maxLineLen)
		}
	}
}
