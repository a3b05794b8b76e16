package audit

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/procs"
)

// A group's bounds: the writer takes what is already queued, up to these,
// and appends it with one write. Under load that turns a write(2) per line
// into one per group; an idle writer still writes each line as it comes.
const (
	maxGroupLines = 256
	maxGroupBytes = 256 << 10
)

// group is the lines the writer is about to append, encoded and chained
// ahead of the file: seq and prev are where the chain will be once every
// line is on disk. Log.seq and Log.prev move only as lines reach the file,
// so a failed write leaves the chain where the file ends.
type group struct {
	buf   []byte
	lines []groupLine
	seq   uint64 // seq of the last line in buf
	prev  []byte // hash of the last line in buf
	canon canonicalizer
	hash  [64]byte // arguments hash being written
}

// groupLine is one line of a group, and what writing it settles.
type groupLine struct {
	end   int // just past the line's '\n' in group.buf
	kind  lineKind
	count int64 // lineLost: lost lines it reports; lineDropped: the drop total it reports up to
}

type lineKind uint8

const (
	lineItem      lineKind = iota // a call, start, reload or stop line
	lineRecovered                 // settles Log.broken
	lineLost                      // settles Log.lost
	lineDropped                   // settles Log.reported
)

// run is the writer goroutine.
func (l *Log) run() {
	defer close(l.done)
	var rest *time.Timer
	if l.opts.Linger > 0 {
		rest = time.NewTimer(time.Hour)
		rest.Stop()
	}
	for {
		select {
		case it := <-l.ch:
			l.writeQueued(it)
			for len(l.ch) > 0 { // more than one group's worth was waiting
				l.writeQueued(<-l.ch)
			}
			if rest != nil {
				select {
				case <-l.kick: // sent while the writer was writing
				default:
				}
				if len(l.ch) < kickLines {
					rest.Reset(l.opts.Linger)
					select {
					case <-rest.C:
					case <-l.kick:
						rest.Stop()
					case <-l.quit:
						rest.Stop()
					}
				}
			}
		case <-l.quit:
			for {
				select {
				case it := <-l.ch:
					l.writeQueued(it)
					continue
				default:
				}
				break
			}
			l.begin()
			l.add(&item{rec: Record{Time: l.now(), Event: KindStop}})
			l.flush()
			if l.f != nil {
				_ = l.f.Sync()
				_ = l.f.Close()
			}
			l.retiring.Wait()
			l.lockFile.Close()
			return
		}
	}
}

// writeQueued writes first and whatever else is queued, within a group's
// bounds, as one group. The items go back to the pool.
func (l *Log) writeQueued(first *item) {
	l.begin()
	l.add(first)
	release(first)
	for len(l.g.lines) < maxGroupLines && len(l.g.buf) < maxGroupBytes {
		select {
		case it := <-l.ch:
			l.add(it)
			release(it)
			continue
		default:
		}
		break
	}
	l.flush()
}

// begin starts a group with the recovered, lost and dropped lines that are
// due. Those stay due until a write puts them on disk: they are retried
// with every group, while a call line that cannot be written is lost and
// counted.
func (l *Log) begin() {
	g := &l.g
	g.buf, g.lines = g.buf[:0], g.lines[:0]
	g.seq, g.prev = l.seq, append(g.prev[:0], l.prev...)
	if l.broken {
		l.addLine(&Record{Time: l.now(), Event: KindRecovered,
			Reason: "the previous audit file ends with a partial line (a crash or a failed write); the chain continues from its last complete line"},
			nil, lineRecovered, 0)
	}
	if l.lost > 0 {
		l.addLine(&Record{Time: l.now(), Event: KindLost, Count: l.lost, Error: l.lostErr.Error()}, nil, lineLost, l.lost)
	}
	if d := l.dropped.Load(); d > l.reported {
		l.addLine(&Record{Time: l.now(), Event: KindDropped, Count: d - l.reported, Reason: "audit buffer full"}, nil, lineDropped, d)
	}
}

// add hashes, and when configured redacts, an item's arguments and adds
// its line to the group. A line that cannot be encoded is lost.
func (l *Log) add(it *item) {
	rec := &it.rec
	var argsHash []byte
	if it.cfg != nil && it.cfg.mode != "none" && rec.Event == KindCall {
		argsHash = l.fillArgs(rec, it.args, it.cfg)
	}
	if err := l.addLine(rec, argsHash, lineItem, 0); err != nil {
		l.lose(1, err)
	}
}

// fillArgs hashes, and when configured records, the call's arguments. It
// returns the hash, in the writer's scratch space until the next call.
func (l *Log) fillArgs(rec *Record, args []byte, cfg *argsConfig) []byte {
	h, err := l.g.canon.appendHash(l.g.hash[:0], args)
	if err != nil {
		rec.ArgsSHA256 = "invalid:" + err.Error()
		return nil
	}
	if cfg.mode != "full" {
		return h
	}
	if out, matched, err := cfg.redact.Apply(args); err == nil {
		rec.Args, rec.Redacted = out, matched
	}
	return h
}

// addLine encodes rec as the group's next line; argsHash is a call's
// arguments hash, which fillArgs left in the writer's scratch space (see
// appendLine), nil for other lines.
func (l *Log) addLine(rec *Record, argsHash []byte, kind lineKind, count int64) error {
	g := &l.g
	rec.Instance = l.instance
	buf, err := appendLine(g.buf, rec, g.seq+1, g.prev, argsHash)
	if err != nil {
		l.opts.Logger.Error("audit: cannot encode an audit line", "err", err)
		return err
	}
	g.buf = buf
	g.seq++
	g.prev = append(g.prev[:0], lineHashOf(buf)...)
	g.lines = append(g.lines, groupLine{end: len(buf), kind: kind, count: count})
	return nil
}

// flush appends the group to the chain: in one write, or one per file
// when the group crosses MaxSize. Lines are settled as they reach the
// disk; when a write fails, the lines of the group that are not on disk
// are lost, except recovered, lost and dropped lines, which stay due.
func (l *Log) flush() {
	g := &l.g
	for done := 0; done < len(g.lines); {
		n, err := l.appendLines(done)
		done += n
		if err != nil {
			l.writeErrs.Add(1)
			lost := 0
			for _, ln := range g.lines[done:] {
				if ln.kind == lineItem {
					lost++
				}
			}
			if lost > 0 {
				l.lose(lost, err)
			}
			break
		}
	}
	g.buf, g.lines = g.buf[:0], g.lines[:0]
	if cap(g.buf) > 2*maxGroupBytes {
		g.buf = nil // a huge line should not pin its size for good
	}
	switch {
	case l.lost > 0:
		err := fmt.Errorf("writing the audit trail fails (%d line(s) lost): %w", l.lost, l.lostErr)
		l.failing.Store(&err)
	case l.failing.Load() != nil:
		l.failing.Store(nil)
	}
}

// lose counts n lines as lost to err.
func (l *Log) lose(n int, err error) {
	l.lost += int64(n)
	l.lostErr = err
	l.lostTotal.Add(int64(n))
	l.opts.Logger.Error("audit: writing the audit trail failed; the line is lost (is the disk full?)",
		"err", err, "lines", n, "lost", l.lost, "dir", l.opts.Dir)
}

// settle moves the chain past lines that are now on disk and clears what
// they reported.
func (l *Log) settle(lines []groupLine) {
	if len(lines) == 0 {
		return
	}
	last := lines[len(lines)-1]
	l.seq += uint64(len(lines))
	l.prev = append(l.prev[:0], lineHashOf(l.g.buf[:last.end])...)
	l.written.Add(int64(len(lines)))
	for _, ln := range lines {
		switch ln.kind {
		case lineRecovered:
			l.broken = false
		case lineLost:
			if l.lost -= ln.count; l.lost == 0 {
				l.lostErr = nil
			}
		case lineDropped:
			l.reported = ln.count
			l.reportedDrops.Store(ln.count)
		}
	}
}

// appendLines writes and settles the group's lines from the from'th on,
// as many as fit in the current file, rotating first when not even the
// first one fits (a single line larger than MaxSize still goes into a file
// of its own). It returns how many lines it wrote. A failed write is cut
// back off so the file stays a valid chain; when that fails, the lines
// left whole are settled and the chain goes on in a new file.
func (l *Log) appendLines(from int) (int, error) {
	g := &l.g
	start := endOf(g.lines, from-1)
	for {
		if l.f == nil {
			path := filepath.Join(l.opts.Dir, chainFileName(l.chain, l.fileNo))
			f, err := l.opts.OpenFile(path)
			if err != nil {
				return 0, fmt.Errorf("open audit file: %w", err)
			}
			fi, err := f.Stat()
			if err != nil {
				f.Close()
				return 0, fmt.Errorf("open audit file: %w", err)
			}
			l.f, l.size = f, fi.Size()
		}
		to, size := from, l.size
		for to < len(g.lines) {
			n := int64(g.lines[to].end - endOf(g.lines, to-1))
			if size > 0 && size+n > l.opts.MaxSize {
				break
			}
			size += n
			to++
		}
		if to > from {
			kept, err := l.write(g.buf[start:g.lines[to-1].end])
			if err == nil {
				l.settle(g.lines[from:to])
				return to - from, nil
			}
			n := 0
			for from+n < to && g.lines[from+n].end-start <= kept {
				n++
			}
			l.settle(g.lines[from : from+n])
			if kept > 0 {
				// The partial line stays; later lines go to a new file,
				// after a recovered line.
				l.f.Close()
				l.f = nil
				l.fileNo++
				l.broken = true
			}
			return n, err
		}
		l.retire(l.f)
		l.f = nil
		l.fileNo++
	}
}

// retire syncs and closes a full file on a goroutine of its own: the sync
// of a file of MaxSize bytes can take the disk a long while, during which
// the writer would take no lines and a busy proxy's would be dropped. The
// lines are in the file already (a crash of the process loses none of
// them); the chain goes on in the next file meanwhile. The writer waits
// for every retiring file before it stops.
func (l *Log) retire(f File) {
	l.retiring.Add(1)
	go func() {
		defer l.retiring.Done()
		procs.Blocking(func() { _ = f.Sync() })
		if err := f.Close(); err != nil {
			l.opts.Logger.Warn("audit: closing a full audit file failed", "err", err)
		}
	}()
}

func endOf(lines []groupLine, i int) int {
	if i < 0 {
		return 0
	}
	return lines[i].end
}

// write appends b to the current file, or cuts a partial write back off.
// It returns how much of b is on disk: all of it, or after a failed write
// none, unless the cut failed.
func (l *Log) write(b []byte) (kept int, err error) {
	n, err := l.f.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err == nil {
		l.size += int64(n)
		return n, nil
	}
	if n > 0 {
		if terr := l.f.Truncate(l.size); terr != nil {
			l.opts.Logger.Error("audit: cannot remove a partly written audit line", "err", terr)
			return n, fmt.Errorf("write audit file: %w", err)
		}
	}
	return 0, fmt.Errorf("write audit file: %w", err)
}
