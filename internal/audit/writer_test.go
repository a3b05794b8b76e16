package audit

import (
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// scriptedFile lets a test see and decide each write: the first write
// (which the test holds until it has queued more lines, so that they form
// one group) and the failing ones.
type scriptedFile struct {
	*os.File
	s *script
}

type script struct {
	mu      sync.Mutex
	writes  []int // the size of every write attempted
	fail    func(i int) bool
	short   bool // a failing write returns no error (a broken io.Writer)
	noTrunc bool // Truncate fails too

	entered chan struct{} // receives when the first write starts
	release chan struct{} // the first write waits for it
}

func newScript() *script {
	return &script{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (f scriptedFile) Write(p []byte) (int, error) {
	s := f.s
	s.mu.Lock()
	i := len(s.writes)
	s.writes = append(s.writes, len(p))
	fail := s.fail != nil && s.fail(i)
	s.mu.Unlock()
	if i == 0 {
		s.entered <- struct{}{}
		<-s.release
	}
	if !fail {
		return f.File.Write(p)
	}
	n, _ := f.File.Write(p[:len(p)/2])
	if s.short {
		return n, nil
	}
	return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
}

func (f scriptedFile) Truncate(size int64) error {
	if f.s.noTrunc {
		return errors.New("truncate: input/output error")
	}
	return f.File.Truncate(size)
}

func (s *script) open(path string) (File, error) {
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return scriptedFile{f.(*os.File), s}, nil
}

func (s *script) writeSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.writes...)
}

// queueBehindFirstWrite records n+1 calls so that the last n wait while
// the writer is held in its first write, then lets it go.
func queueBehindFirstWrite(t *testing.T, l *Log, s *script, n int) {
	t.Helper()
	l.Record(callEvent(0))
	select {
	case <-s.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer never wrote")
	}
	for i := 1; i <= n; i++ {
		l.Record(callEvent(i))
	}
	close(s.release)
}

func events(recs []*Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Event)
	}
	return out
}

func TestQueuedLinesAreWrittenTogether(t *testing.T) {
	dir := t.TempDir()
	s := newScript()
	l := openLog(t, Options{Dir: dir, Buffer: 500, OpenFile: s.open})
	queueBehindFirstWrite(t, l, s, 300)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// The first line; what queued behind it, in groups of maxGroupLines;
	// the stop line.
	if got, want := len(s.writeSizes()), 4; got != want {
		t.Errorf("%d writes for 302 lines, want %d", got, want)
	}
	if rep := verifyDir(t, dir); rep.Problem != nil || rep.Lines != 302 || !rep.Stopped {
		t.Errorf("verify: %+v", rep)
	}
	if st := l.Stats(); st.Written != 302 || st.Lost != 0 || st.WriteErrors != 0 {
		t.Errorf("stats: %+v", st)
	}
}

func TestGroupIsSplitAtRotation(t *testing.T) {
	dir := t.TempDir()
	const maxSize = 2500
	s := newScript()
	l := openLog(t, Options{Dir: dir, MaxSize: maxSize, Buffer: 100, OpenFile: s.open})
	queueBehindFirstWrite(t, l, s, 40)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := ListFiles(dir)
	if len(files) < 4 {
		t.Fatalf("got %d files, want the group spread over several", len(files))
	}
	for _, f := range files {
		if fi, _ := os.Stat(f.Path); fi.Size() > maxSize {
			t.Errorf("%s is %d bytes, over MaxSize", f.Path, fi.Size())
		}
	}
	// One write per file the group touched, plus the first and stop lines.
	if got := len(s.writeSizes()); got > len(files)+2 {
		t.Errorf("%d writes for %d files", got, len(files))
	}
	if rep := verifyDir(t, dir); rep.Problem != nil || rep.Lines != 42 || !rep.Stopped {
		t.Errorf("verify: %+v", rep)
	}
}

func TestFailedGroupWrite(t *testing.T) {
	tests := []struct {
		name    string
		maxSize int64
		short   bool
		// wantWritten counts the group's lines that reached the disk
		// before the failing write: -1 means "some, but not all".
		wantWritten int
	}{
		{name: "one file", maxSize: 1 << 20},
		{name: "short write without an error", maxSize: 1 << 20, short: true},
		{name: "after a rotation", maxSize: 2500, wantWritten: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := newScript()
			s.short = tc.short
			// Write 0 is the first line; the group's first write into a
			// file of its own fails.
			s.fail = func(i int) bool { return i == 1 && tc.wantWritten == 0 || i == 2 && tc.wantWritten != 0 }
			l := openLog(t, Options{Dir: dir, MaxSize: tc.maxSize, Buffer: 100, OpenFile: s.open})
			queueBehindFirstWrite(t, l, s, 20)
			mcptest.Eventually(t, 10*time.Second, func() bool { return l.Stats().Lost > 0 }, "a line lost")
			st := l.Stats()
			written := int(st.Written) - 1
			switch {
			case tc.wantWritten == -1 && (written <= 0 || written >= 20):
				t.Errorf("%d of the group's 20 lines written before the failure, want some", written)
			case tc.wantWritten >= 0 && written != tc.wantWritten:
				t.Errorf("%d of the group's 20 lines written, want %d", written, tc.wantWritten)
			}
			if st.Lost != int64(20-written) || st.WriteErrors != 1 {
				t.Errorf("stats %+v, want the other %d lost to one failed write", st, 20-written)
			}
			l.Record(callEvent(99))
			if err := l.Close(); err != nil {
				t.Fatalf("Close after recovery: %v", err)
			}
			recs := readLines(t, dir)
			want := []string{"call"}
			for range written {
				want = append(want, "call")
			}
			want = append(want, "lost", "call", "stop")
			if d := cmp.Diff(want, events(recs)); d != "" {
				t.Fatalf("lines (-want +got):\n%s", d)
			}
			lost := recs[written+1]
			if lost.Count != int64(20-written) {
				t.Errorf("lost line counts %d, want %d", lost.Count, 20-written)
			}
			if wantErr := "no space left"; !tc.short && !strings.Contains(lost.Error, wantErr) ||
				tc.short && !strings.Contains(lost.Error, io.ErrShortWrite.Error()) {
				t.Errorf("lost line error %q", lost.Error)
			}
			if rep := verifyDir(t, dir); rep.Problem != nil || !rep.Stopped {
				t.Errorf("the chain is broken after a failed group write: %+v", rep)
			}
		})
	}
}

// A failed write that cannot be cut back off leaves whole lines and a
// partial one: the whole lines stay in the chain, which goes on in a new
// file from the last of them.
func TestFailedGroupWriteThatCannotBeCut(t *testing.T) {
	dir := t.TempDir()
	s := newScript()
	s.noTrunc = true
	s.fail = func(i int) bool { return i == 1 }
	l := openLog(t, Options{Dir: dir, Buffer: 100, OpenFile: s.open})
	queueBehindFirstWrite(t, l, s, 20)
	mcptest.Eventually(t, 10*time.Second, func() bool { return l.Stats().Lost > 0 }, "a line lost")
	st := l.Stats()
	kept := int(st.Written) - 1
	if kept <= 0 || kept >= 20 || st.Lost != int64(20-kept) {
		t.Fatalf("stats %+v: want some of the 20 lines kept, the rest lost", st)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := ListFiles(dir)
	if len(files) != 2 {
		t.Fatalf("got %d files, want a new one after the partial line", len(files))
	}
	if got := len(fileLines(t, files[0].Path)); got != 1+kept+1 {
		t.Errorf("the first file has %d lines, want the first, %d kept and a partial one", got, kept)
	}
	next, err := Verify([]string{files[1].Path})
	if err != nil || next[0].Problem != nil || next[0].FirstSeq != uint64(kept+2) {
		t.Errorf("new file: %+v %v; want it to start at seq %d", next, err, kept+2)
	}
	first, _ := ParseLine([]byte(strings.TrimSpace(fileLines(t, files[1].Path)[0])))
	last, _ := ParseLine([]byte(strings.TrimSpace(fileLines(t, files[0].Path)[kept])))
	if first.Event != KindRecovered || first.Prev != last.Hash {
		t.Errorf("new file starts with %+v, want a recovered line after %s", first, last.Hash)
	}
	if rep := verifyDir(t, dir); rep.Problem == nil || !strings.Contains(rep.Problem.Msg, "incomplete") {
		t.Errorf("the partial line must be reported: %+v", rep)
	}
}

func TestCloseWritesEverythingQueued(t *testing.T) {
	dir := t.TempDir()
	s := newScript()
	l := openLog(t, Options{Dir: dir, Buffer: 1000, OpenFile: s.open})
	l.Record(callEvent(0))
	<-s.entered
	for i := 1; i <= 600; i++ {
		l.Record(callEvent(i))
	}
	closed := make(chan error)
	go func() { closed <- l.Close() }()
	close(s.release)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if rep := verifyDir(t, dir); rep.Problem != nil || rep.Lines != 602 || !rep.Stopped {
		t.Errorf("verify: %+v", rep)
	}
}

// When the recovered line itself is left whole by a write that cannot be
// cut back, the new file after it still starts with a recovered line.
func TestRecoveredLineInAWriteThatCannotBeCut(t *testing.T) {
	dir := writeChain(t, 3, 0)
	files, _ := ListFiles(dir)
	f, _ := os.OpenFile(files[0].Path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026`) // a crash mid-write
	f.Close()
	s := newScript()
	s.noTrunc = true
	s.fail = func(i int) bool { return i == 0 } // [recovered, call 0] keeps the recovered line whole
	l := openLog(t, Options{Dir: dir, Buffer: 100, OpenFile: s.open})
	queueBehindFirstWrite(t, l, s, 5)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ = ListFiles(dir)
	if len(files) != 3 {
		t.Fatalf("got %d files, want a new one after each partial line", len(files))
	}
	second := fileLines(t, files[1].Path)
	if len(second) != 2 || !strings.Contains(second[0], `"event":"recovered"`) || strings.HasSuffix(second[1], "\n") {
		t.Fatalf("second file: %q, want a recovered line and a partial one", second)
	}
	recovered, _ := ParseLine([]byte(strings.TrimSpace(second[0])))
	var kinds []string
	for _, line := range fileLines(t, files[2].Path) {
		r, err := ParseLine([]byte(strings.TrimSpace(line)))
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, r.Event)
		if len(kinds) == 1 && (r.Prev != recovered.Hash || r.Seq != recovered.Seq+1) {
			t.Errorf("the third file does not go on from the recovered line: %+v", r)
		}
	}
	want := []string{"recovered", "lost", "call", "call", "call", "call", "call", "stop"}
	if d := cmp.Diff(want, kinds); d != "" {
		t.Errorf("third file (-want +got):\n%s", d)
	}
	if rep, err := Verify([]string{files[2].Path}); err != nil || rep[0].Problem != nil {
		t.Errorf("third file: %+v %v", rep, err)
	}
}

// restingLog opens a log in dir whose writer rests an hour after a write,
// and has it write one line, so that it is resting.
func restingLog(t *testing.T, dir string) (*Log, *script) {
	t.Helper()
	s := newScript()
	close(s.release)
	l := openLog(t, Options{Dir: dir, Linger: time.Hour, OpenFile: s.open})
	l.Record(callEvent(0))
	<-s.entered
	mcptest.Eventually(t, 10*time.Second, func() bool { return l.Stats().Written >= 1 }, "the first line to be written")
	return l, s
}

// TestWriterRestsBetweenWrites: after a write the writer rests for Linger,
// so lines recorded meanwhile wait and then share one write; Close does not
// wait out the rest.
func TestWriterRestsBetweenWrites(t *testing.T) {
	dir := t.TempDir()
	l, s := restingLog(t, dir)
	for i := 1; i <= 10; i++ {
		l.Record(callEvent(i))
	}
	time.Sleep(50 * time.Millisecond)
	if got := len(s.writeSizes()); got != 1 {
		t.Fatalf("%d writes while the writer rests, want 1", got)
	}
	if err := l.Close(); err != nil { // with the hour's rest waited out, the test times out
		t.Fatal(err)
	}
	// The first line, the ten that waited (one write), the stop line.
	if got, want := len(s.writeSizes()), 3; got != want {
		t.Errorf("%d writes, want %d", got, want)
	}
	if rep := verifyDir(t, dir); rep.Problem != nil || rep.Lines != 12 || !rep.Stopped {
		t.Errorf("verify: %+v", rep)
	}
}

// TestRestEndsWhenLinesQueue: a rest ends early once kickLines lines wait,
// so that the writer never has a long queue to encode in one go; fewer
// wait out the rest.
func TestRestEndsWhenLinesQueue(t *testing.T) {
	dir := t.TempDir()
	l, _ := restingLog(t, dir)
	for i := 1; i < kickLines; i++ {
		l.Record(callEvent(i))
	}
	time.Sleep(50 * time.Millisecond)
	if got := l.Stats().Written; got != 1 {
		t.Fatalf("%d lines written with %d waiting, want 1: the rest ended early", got, kickLines-1)
	}
	l.Record(callEvent(kickLines))
	mcptest.Eventually(t, 10*time.Second, func() bool { return l.Stats().Written == 1+kickLines },
		"the waiting lines to be written once kickLines waited, without waiting out the rest")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep := verifyDir(t, dir); rep.Problem != nil || rep.Lines != kickLines+2 || !rep.Stopped {
		t.Errorf("verify: %+v", rep)
	}
}

// slowSyncFile holds the first file's Sync until release is closed, as a
// disk does while it flushes a full file.
type slowSyncFile struct {
	*os.File
	first   bool
	entered chan<- struct{}
	release <-chan struct{}
	synced  *atomic.Bool
}

func (f slowSyncFile) Sync() error {
	if f.first {
		f.entered <- struct{}{}
		<-f.release
		f.synced.Store(true)
	}
	return f.File.Sync()
}

// TestRotationDoesNotWaitForSync: while a full file is being synced, the
// lines after it go on into the next file (a busy proxy drops none), and
// Close returns only once that sync is done.
func TestRotationDoesNotWaitForSync(t *testing.T) {
	dir := t.TempDir()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	var synced atomic.Bool
	var opened atomic.Int32
	l := openLog(t, Options{Dir: dir, MaxSize: 2000, Buffer: 100, Linger: -1, OpenFile: func(path string) (File, error) {
		f, err := openAppend(path)
		if err != nil {
			return nil, err
		}
		return slowSyncFile{f.(*os.File), opened.Add(1) == 1, entered, release, &synced}, nil
	}})
	// Runs before openLog's Close: a failing test must not leave the
	// writer held in Sync for Close to wait on.
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free)
	i := 0
	for ; ; i++ {
		l.Record(callEvent(i))
		select {
		case <-entered:
		case <-time.After(5 * time.Millisecond):
			if i > 1000 {
				t.Fatal("the first file was never rotated")
			}
			continue
		}
		break
	}
	// The first file's Sync is held: the next lines must still reach the
	// disk, in the next file.
	want := i + 10
	for ; i < want; i++ {
		l.Record(callEvent(i + 1))
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := 0
		files, _ := ListFiles(dir)
		for _, f := range files[1:] {
			b, _ := os.ReadFile(f.Path)
			n += strings.Count(string(b), "\n")
		}
		if n >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d lines in the files after the first while its sync was held, want 10 or more", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		free()
	}()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !synced.Load() {
		t.Error("Close returned before the full file was synced")
	}
	if rep := verifyDir(t, dir); rep.Problem != nil || !rep.Stopped || rep.Lines != want+2 {
		t.Errorf("verify: %+v, want %d lines", rep, want+2)
	}
	if st := l.Stats(); st.Dropped != 0 || st.Lost != 0 {
		t.Errorf("stats: %+v", st)
	}
}
