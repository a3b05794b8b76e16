package audit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// Defaults for Options.
const (
	DefaultMaxSize = 64 << 20
	DefaultBuffer  = 4096
	// DefaultLinger is 10 ms: each rest ends with a timer that wakes an
	// idle process, so under steady traffic the rests, not the lines, set
	// how often the process wakes for the writer. At one call in flight
	// (about 8,000 calls a second) a 2 ms rest cost about 10 µs of CPU and
	// 14 µs of added latency a call against a 10 ms one (docs/performance.md,
	// "The audit writer's rest"); a longer rest saved no more latency.
	DefaultLinger = 10 * time.Millisecond
)

// kickLines is how many waiting lines end the writer's rest early: encoding
// them takes about 0.2 ms, which a call that arrives meanwhile waits for
// on a process with one processor. At one call in flight (about 8,000 a
// second) a 10 ms rest gathers fewer; at 16 in flight (50,000) a rest ends
// after about 2.5 ms instead of gathering 500 lines, a millisecond of work.
const kickLines = 128

// Options configure a Log.
type Options struct {
	// Dir is the audit directory, created (mode 0700) if missing.
	Dir string
	// MaxSize is the size in bytes after which a file is rotated
	// (DefaultMaxSize when 0). A single larger line still gets written.
	MaxSize int64
	// Buffer is how many lines may wait for the writer (DefaultBuffer when
	// 0); when it is full, Record drops the line and counts it. The writer
	// holds up to 256 more: the group it is writing.
	Buffer int
	// Linger is how long the writer rests after a write before it takes
	// the next line (DefaultLinger when 0; negative: not at all). Lines
	// that arrive meanwhile share one write, and a call's Record never
	// wakes the writer more often than once a Linger: under load this
	// turns a write(2) and a goroutine wake-up per call into one per
	// Linger. A line after a quiet spell is still written at once, and a
	// rest ends early once kickLines lines wait, so that the writer, which
	// encodes what waits in one go, never holds the processor for long.
	Linger time.Duration
	// Instance names this process in every line (random when empty).
	Instance string
	// Logger receives write failures and drops; nil discards them.
	Logger *slog.Logger
	// Now is the clock for start, stop and reload lines; nil means time.Now.
	Now func() time.Time
	// OpenFile opens a chain file for appending, creating it (mode 0600);
	// nil means os.OpenFile. Tests inject failing files here.
	OpenFile func(path string) (File, error)
}

// Stats counts what happened to lines.
type Stats struct {
	Written     int64 // lines written
	Dropped     int64 // lines dropped because the buffer was full
	WriteErrors int64 // failed writes, each of a group of lines (retries of dropped/lost lines count again)
	Lost        int64 // lines lost to failed writes
}

// Log is the audit trail writer: a event.Recorder whose Record copies what
// it needs and hands the line to one writer goroutine over a bounded
// channel, so a call never waits on the disk. Record, Reload, SetConfig and
// Stats are safe for concurrent use; Close stops the writer after writing
// what is queued and a stop line, and is idempotent.
type Log struct {
	opts     Options
	instance string
	ch       chan *item
	kick     chan struct{} // ends the writer's rest early: kickLines are queued
	quit     chan struct{}
	done     chan struct{}
	close    sync.Once
	cfg      atomic.Pointer[argsConfig]

	written, dropped, writeErrs, lostTotal atomic.Int64
	lastDropLog                            atomic.Int64 // unix ns of the last "dropping" log
	// failing is the write error while lines are being lost (nil once a
	// write puts them on record); reportedDrops mirrors reported. Both are
	// for Writable, written by the writer goroutine.
	failing       atomic.Pointer[error]
	reportedDrops atomic.Int64

	// Owned by the writer goroutine (and by Open before it starts).
	chain    int
	lockFile *os.File
	f        File
	fileNo   int
	size     int64
	seq      uint64
	prev     []byte // hash of line seq
	reported int64  // dropped lines already recorded
	lost     int64  // lines lost to write errors, not yet recorded
	lostErr  error
	broken   bool // the current file could not be restored after a failed write
	g        group

	// retiring counts the full files being synced and closed off the
	// writer's path (see retire); the writer waits for them when it stops.
	retiring sync.WaitGroup
}

var _ event.Recorder = (*Log)(nil)

type argsConfig struct {
	mode   string // none, hash, full
	redact *Redactor
}

type item struct {
	rec  Record
	args []byte
	cfg  *argsConfig
}

// Items travel to the writer by pointer and come back to this pool once
// their line is encoded: the queue holds pointers, not Records by value
// (a Record is over 500 bytes, and a queue of them cost every call a copy
// in and out, with write barriers, and the GC a scan of megabytes).
var itemPool = sync.Pool{New: func() any { return new(item) }}

// newItem returns a cleared item whose args buffer may be reused.
func newItem() *item {
	it := itemPool.Get().(*item)
	it.args = it.args[:0]
	return it
}

// maxPooledArgs bounds the argument buffer an item keeps when it returns
// to the pool, so that one large call does not stay resident.
const maxPooledArgs = 4 << 10

// release returns it to the pool; nothing may use it afterwards.
func release(it *item) {
	args := it.args[:0]
	if cap(args) > maxPooledArgs {
		args = nil
	}
	*it = item{args: args}
	itemPool.Put(it)
}

// Open prepares the audit directory, takes the lowest free chain, finds
// where that chain ended (to continue it) and starts the writer.
func Open(opts Options) (*Log, error) {
	l, err := newLog(opts)
	if err != nil {
		return nil, err
	}
	go l.run()
	return l, nil
}

// newLog is Open without starting the writer.
func newLog(opts Options) (*Log, error) {
	if opts.Dir == "" {
		return nil, errors.New("open audit log: no directory")
	}
	if opts.MaxSize <= 0 {
		opts.MaxSize = DefaultMaxSize
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Linger == 0 {
		opts.Linger = DefaultLinger
	}
	if opts.OpenFile == nil {
		opts.OpenFile = openAppend
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Instance == "" {
		opts.Instance = NewInstanceID()
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	l := &Log{
		opts:     opts,
		instance: opts.Instance,
		ch:       make(chan *item, opts.Buffer),
		kick:     make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	l.cfg.Store(&argsConfig{mode: "hash", redact: &Redactor{}})
	if err := l.takeChain(); err != nil {
		return nil, err
	}
	return l, nil
}

// NewInstanceID returns a random 12-hex-digit instance name.
func NewInstanceID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Instance returns the instance name written in every line.
func (l *Log) Instance() string { return l.instance }

// Chain returns the chain number this Log writes.
func (l *Log) Chain() int { return l.chain }

// takeChain locks the lowest free chain and positions the writer after its
// last line.
func (l *Log) takeChain() error {
	for k := 0; k < 1000; k++ {
		lf, err := os.OpenFile(filepath.Join(l.opts.Dir, lockFileName(k)), os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("open audit log: %w", err)
		}
		held, err := tryLock(lf)
		if err != nil || held {
			lf.Close()
			if err != nil {
				return fmt.Errorf("open audit log: lock %s: %w", lockFileName(k), err)
			}
			continue
		}
		l.chain, l.lockFile = k, lf
		if err := l.resume(); err != nil {
			lf.Close()
			return err
		}
		return nil
	}
	return errors.New("open audit log: a thousand chains are locked by running Tollgates")
}

// resume finds the chain's last line: the next line continues from its
// hash and seq, in the same file unless that file is full or damaged.
func (l *Log) resume() error {
	files, err := ListFiles(l.opts.Dir)
	if err != nil {
		return fmt.Errorf("open audit log: %w", err)
	}
	var mine []ChainFile
	for _, f := range files {
		if f.Chain == l.chain {
			mine = append(mine, f)
		}
	}
	if len(mine) == 0 {
		l.fileNo = 1
		return nil
	}
	l.fileNo = mine[len(mine)-1].Num
	for i := len(mine) - 1; i >= 0; i-- {
		t, err := readTail(mine[i].Path)
		if err != nil {
			return fmt.Errorf("open audit log: %w", err)
		}
		if t.partial && i == len(mine)-1 {
			// A crash cut the last line short: leave the evidence as it is
			// and continue in a new file.
			l.opts.Logger.Warn("audit: the last audit file ends with a partial line; continuing in a new file", "file", mine[i].Path)
			l.fileNo++
			l.broken = true // write a "recovered" line first
		}
		if t.last == nil {
			continue
		}
		r, err := ParseLine(t.last)
		if err != nil || r.Hash == "" {
			return fmt.Errorf("open audit log: the last line of %s is not an audit line; move the file away or fix it", mine[i].Path)
		}
		l.seq, l.prev = r.Seq, []byte(r.Hash)
		return nil
	}
	return nil
}

// SetConfig applies the policy's audit section to lines recorded from now
// on. It is called at start and on every reload.
func (l *Log) SetConfig(c policy.AuditConfig) error {
	r, err := NewRedactor(c.Redact)
	if err != nil {
		return err
	}
	mode := c.Arguments
	if mode == "" {
		mode = "hash"
	}
	l.cfg.Store(&argsConfig{mode: mode, redact: r})
	return nil
}

// Record implements event.Recorder. It copies the event's arguments and
// never blocks: when the buffer is full the line is dropped, counted, and
// recorded later as a "dropped" line.
func (l *Log) Record(ev event.Event) {
	cfg := l.cfg.Load()
	it := newItem()
	it.cfg, it.rec = cfg, Record{
		Time: ev.Time.UTC(), Event: KindCall, Session: ev.Session, Identity: ev.Identity, Server: ev.Server,
		Tool: ev.Tool, Decision: string(ev.Decision), Monitor: ev.Monitor, Rule: ev.Rule, Reason: ev.Reason,
		Counters: ev.Counters, Outcome: ev.Outcome, Policy: ev.PolicyRev, StateError: ev.StateError,
		ApprovalID: ev.ApprovalID, Approver: ev.Approver,
	}
	if ev.Latency > 0 {
		it.rec.LatencyMS = float64(ev.Latency.Microseconds()) / 1000
	}
	if len(ev.Findings) > 0 {
		it.rec.Findings = append([]string(nil), ev.Findings...)
	}
	if len(ev.Counters) > 0 {
		it.rec.Counters = append([]string(nil), ev.Counters...)
	}
	if cfg.mode != "none" {
		it.args = append(it.args, ev.Args...)
	}
	l.enqueue(it)
}

// Start records that this instance started.
func (l *Log) Start(info StartInfo) {
	it := newItem()
	it.rec = Record{Time: l.now(), Event: KindStart, Start: &info}
	l.enqueue(it)
}

// ReloadResult describes one policy reload attempt.
type ReloadResult struct {
	File     string
	Result   string   // ok, invalid, error
	Revision string   // the new policy's revision when ok
	Errors   []string // what was wrong when not ok
}

// Reload records a policy reload attempt.
func (l *Log) Reload(r ReloadResult) {
	it := newItem()
	it.rec = Record{Time: l.now(), Event: KindReload, File: r.File, Result: r.Result, Policy: r.Revision, Errors: r.Errors}
	l.enqueue(it)
}

// ServerState records that a server behind tollgate gateway came up or
// went down (err says why).
func (l *Log) ServerState(server string, up bool, err error) {
	it := newItem()
	it.rec = Record{Time: l.now(), Event: KindServer, Server: server, Result: "down"}
	if up {
		it.rec.Result = "up"
	}
	if err != nil {
		it.rec.Error = err.Error()
	}
	l.enqueue(it)
}

func (l *Log) enqueue(it *item) {
	select {
	case l.ch <- it:
		if len(l.ch) >= kickLines && len(l.kick) == 0 {
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
	default:
		release(it)
		n := l.dropped.Add(1)
		now := time.Now().UnixNano()
		last := l.lastDropLog.Load()
		if now-last >= int64(time.Second) && l.lastDropLog.CompareAndSwap(last, now) {
			l.opts.Logger.Error("audit: the audit buffer is full; dropping audit lines (the disk is too slow or stuck)",
				"dropped_total", n, "buffer", l.opts.Buffer)
		}
	}
}

// Writable reports why lines are not reaching the audit file now: its
// last write failed and the lost lines are not on record yet (a full disk),
// or the buffer overflowed and the dropped lines are not on record yet. It
// returns nil while lines are being written. Safe for concurrent use; it
// costs two atomic loads.
func (l *Log) Writable() error {
	if err := l.failing.Load(); err != nil {
		return *err
	}
	if d, r := l.dropped.Load(), l.reportedDrops.Load(); d > r {
		return fmt.Errorf("the audit buffer is full: %d line(s) dropped and not yet on record", d-r)
	}
	return nil
}

// Stats returns the line counters.
func (l *Log) Stats() Stats {
	return Stats{Written: l.written.Load(), Dropped: l.dropped.Load(), WriteErrors: l.writeErrs.Load(), Lost: l.lostTotal.Load()}
}

// Close writes what is queued and a stop line, closes the file and
// releases the chain. It returns the last write error, if any line was
// lost. It may be called more than once.
func (l *Log) Close() error {
	l.close.Do(func() { close(l.quit) })
	<-l.done
	if l.lostErr != nil {
		return fmt.Errorf("close audit log: %d line(s) lost: %w", l.lost, l.lostErr)
	}
	return nil
}

func (l *Log) now() time.Time {
	if l.opts.Now != nil {
		return l.opts.Now().UTC()
	}
	return time.Now().UTC()
}
