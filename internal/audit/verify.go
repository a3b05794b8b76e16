package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// ChainReport is what Verify found in one chain.
type ChainReport struct {
	// Name is "DIR/tollgate-K" for chain files, or the first file's path for
	// files not named like chain files (verified in the order given).
	Name  string
	Files []string
	// Lines counts the lines verified before the first problem.
	Lines int
	// FirstSeq and LastSeq are the seq of the first and last good line.
	FirstSeq, LastSeq uint64
	// Stopped is true when the last line is a stop line: the writer ended
	// cleanly (lines removed from the end of a chain that is still being
	// written, or that ended in a crash, cannot be told from no lines).
	Stopped bool
	// Problem is the first problem found, nil when the chain is intact.
	Problem *Problem
}

// Problem locates the first line that breaks a chain.
type Problem struct {
	File string
	Line int // 1-based
	Msg  string
}

func (p *Problem) Error() string { return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg) }

// Verify checks the hash chains in paths (files, or directories whose chain
// files are all taken). Chain files are grouped by chain and ordered by
// number whatever the order given; other files are taken as one chain in
// the order given. The first line of each chain is trusted as its start
// (earlier files may have been archived); from there every line must carry
// its own intact hash, the previous line's hash and the next seq.
func Verify(paths []string) ([]ChainReport, error) {
	type group struct {
		name  string
		files []ChainFile
	}
	byChain := map[string]*group{}
	var order []string
	var loose group
	seen := map[string]bool{}
	add := func(cf ChainFile, named bool) {
		abs, _ := filepath.Abs(cf.Path)
		if seen[abs] {
			return
		}
		seen[abs] = true
		if !named {
			if loose.name == "" {
				loose.name = cf.Path
			}
			loose.files = append(loose.files, cf)
			return
		}
		key := filepath.Join(filepath.Dir(cf.Path), "tollgate-"+strconv.Itoa(cf.Chain))
		g := byChain[key]
		if g == nil {
			g = &group{name: key}
			byChain[key] = g
			order = append(order, key)
		}
		g.files = append(g.files, cf)
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("verify audit: %w", err)
		}
		if fi.IsDir() {
			files, err := ListFiles(p)
			if err != nil {
				return nil, fmt.Errorf("verify audit: %w", err)
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("verify audit: no audit files (tollgate-K-NNNNNN.jsonl) in %s", p)
			}
			for _, f := range files {
				add(f, true)
			}
			continue
		}
		if k, n, ok := parseChainFileName(filepath.Base(p)); ok {
			add(ChainFile{Path: p, Chain: k, Num: n}, true)
		} else {
			add(ChainFile{Path: p}, false)
		}
	}
	var reports []ChainReport
	for _, key := range order {
		g := byChain[key]
		sort.Slice(g.files, func(i, j int) bool { return g.files[i].Num < g.files[j].Num })
		reports = append(reports, verifyChain(g.name, g.files))
	}
	if len(loose.files) > 0 {
		reports = append(reports, verifyChain(loose.name, loose.files))
	}
	return reports, nil
}

// lineRef is where a seq was seen, for telling removal from reordering.
type lineRef struct {
	file string
	line int
}

func verifyChain(name string, files []ChainFile) ChainReport {
	rep := ChainReport{Name: name}
	for _, f := range files {
		rep.Files = append(rep.Files, f.Path)
	}
	var prev string
	var seq uint64
	started := false
	bySeq := map[uint64]lineRef{} // seqs already verified
	for fi, f := range files {
		fh, err := os.Open(f.Path)
		if err != nil {
			rep.Problem = &Problem{File: f.Path, Msg: err.Error()}
			return rep
		}
		r := bufio.NewReaderSize(fh, 256<<10)
		lineNo := 0
		fail := func(msg string) ChainReport {
			fh.Close()
			rep.Problem = &Problem{File: f.Path, Line: lineNo, Msg: msg}
			return rep
		}
		for {
			line, err := r.ReadBytes('\n')
			if len(line) == 0 && errors.Is(err, io.EOF) {
				break
			}
			lineNo++
			if err != nil && !errors.Is(err, io.EOF) {
				return fail(err.Error())
			}
			if err != nil {
				return fail("the last line is incomplete: the file was truncated or a write was cut short")
			}
			line = line[:len(line)-1]
			claimed, intact, herr := lineHash(line)
			if herr != nil {
				return fail("not an audit line: " + herr.Error())
			}
			if !intact {
				return fail("the line was changed: its content does not match its hash")
			}
			rec, perr := ParseLine(line)
			if perr != nil {
				return fail(perr.Error())
			}
			switch {
			case !started:
				started = true
				rep.FirstSeq = rec.Seq
				if rec.Seq == 1 && rec.Prev != "" {
					return fail("seq 1 must start a chain but this line has a prev hash: lines before it were removed")
				}
			case rec.Prev != prev || rec.Seq != seq+1:
				fh.Close()
				rep.Problem = &Problem{File: f.Path, Line: lineNo,
					Msg: breakMessage(seq, rec, bySeq, files[fi:], f.Path, lineNo)}
				return rep
			}
			prev, seq = claimed, rec.Seq
			bySeq[seq] = lineRef{f.Path, lineNo}
			rep.Lines++
			rep.LastSeq = seq
			rep.Stopped = rec.Event == KindStop
		}
		fh.Close()
	}
	return rep
}

// breakMessage explains a line that does not follow the line before it:
// the expected line is later in the chain (reordered), earlier (this line
// is a duplicate or moved back), or nowhere (removed).
func breakMessage(last uint64, rec *Record, bySeq map[uint64]lineRef, rest []ChainFile, file string, lineNo int) string {
	want := last + 1
	if rec.Seq == want {
		return fmt.Sprintf("seq %d does not follow the line before it (its prev hash does not match): a line was changed or replaced", rec.Seq)
	}
	if ref, ok := bySeq[rec.Seq]; ok {
		return fmt.Sprintf("expected seq %d, found seq %d, which already appeared at %s:%d: lines were duplicated or reordered", want, rec.Seq, ref.file, ref.line)
	}
	if rec.Seq < want {
		return fmt.Sprintf("expected seq %d, found seq %d: lines were reordered", want, rec.Seq)
	}
	if ref, ok := findSeq(rest, want, file, lineNo); ok {
		return fmt.Sprintf("expected seq %d, found seq %d; seq %d is later, at %s:%d: lines were reordered", want, rec.Seq, want, ref.file, ref.line)
	}
	return fmt.Sprintf("expected seq %d, found seq %d: %d line(s) were removed before this line", want, rec.Seq, rec.Seq-want)
}

// findSeq looks for a line with seq want after file:lineNo in files.
func findSeq(files []ChainFile, want uint64, file string, lineNo int) (lineRef, bool) {
	for _, f := range files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			continue
		}
		n := 0
		for len(data) > 0 {
			var line []byte
			line, data, _ = bytes.Cut(data, []byte("\n"))
			n++
			if f.Path == file && n <= lineNo {
				continue
			}
			if rec, err := ParseLine(line); err == nil && rec.Seq == want {
				return lineRef{f.Path, n}, true
			}
		}
	}
	return lineRef{}, false
}
