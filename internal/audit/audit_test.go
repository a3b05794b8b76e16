package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openLog(t *testing.T, opts Options) *Log {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	l, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func callEvent(i int) event.Event {
	return event.Event{Time: t0.Add(time.Duration(i) * time.Second), Session: "s1", Identity: "alice",
		Tool: "send_email", Args: []byte(fmt.Sprintf(`{"to":"a@example.com","n":%d}`, i)),
		Decision: "allow", Outcome: "ok", Latency: 1500 * time.Microsecond, PolicyRev: "rev1"}
}

// readLines returns the records of every chain file in dir, in order.
func readLines(t *testing.T, dir string) []*Record {
	t.Helper()
	files, err := ListFiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []*Record
	for _, f := range files {
		data, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			r, err := ParseLine(sc.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
	}
	return out
}

func verifyDir(t *testing.T, dir string) ChainReport {
	t.Helper()
	reps, err := Verify([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 1 {
		t.Fatalf("got %d chains, want 1", len(reps))
	}
	return reps[0]
}

func TestLineFields(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, Instance: "inst1"})
	l.Start(StartInfo{Version: "v1", PID: 42, Policy: "p.yaml", Mode: "enforce", State: "memory", Server: "node"})
	ev := callEvent(1)
	ev.Decision, ev.Rule, ev.Reason, ev.Outcome, ev.Latency = "deny", "company recipients only", "nope", "", 0
	ev.Counters = []string{"send_email/sent/global"}
	ev.ApprovalID, ev.Approver = "apr_1", "carol"
	l.Record(ev)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	recs := readLines(t, dir)
	if len(recs) != 3 {
		t.Fatalf("got %d lines, want start, call, stop", len(recs))
	}
	got := recs[1]
	want := &Record{Time: ev.Time, Event: KindCall, Instance: "inst1", Session: "s1", Identity: "alice",
		Tool: "send_email", Decision: "deny", Rule: "company recipients only", Reason: "nope",
		Counters: []string{"send_email/sent/global"}, Policy: "rev1", ApprovalID: "apr_1", Approver: "carol",
		ArgsSHA256: mustHash(t, `{"n":1,"to":"a@example.com"}`), Seq: 2, Prev: recs[0].Hash, Hash: got.Hash}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("call line (-want +got):\n%s", d)
	}
	if recs[0].Event != KindStart || recs[0].Start.PID != 42 || recs[2].Event != KindStop {
		t.Errorf("start/stop lines: %+v %+v", recs[0], recs[2])
	}
	if rep := verifyDir(t, dir); rep.Problem != nil || rep.Lines != 3 || !rep.Stopped {
		t.Errorf("verify: %+v", rep)
	}
}

func mustHash(t *testing.T, s string) string {
	t.Helper()
	h, err := ArgsHash([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestArgsHashIgnoresKeyOrderAndNumberSpelling(t *testing.T) {
	same := [][]string{
		{`{"a":1,"b":{"y":2,"x":[1,2]}}`, `{ "b": {"x":[1, 2], "y":2.0}, "a": 1e0 }`},
		{`{"amount":0.50}`, `{"amount":5e-1}`, `{"amount":0.5}`},
		{`{"n":-0}`, `{"n":0.000}`},
		{`{"s":"<&>\u00e9"}`, `{"s":"<&>é"}`},
		{``, `{}`},
	}
	for _, group := range same {
		h0 := mustHash(t, group[0])
		for _, s := range group[1:] {
			if h := mustHash(t, s); h != h0 {
				t.Errorf("hash(%s) != hash(%s)", s, group[0])
			}
		}
	}
	if mustHash(t, `{"a":"1"}`) == mustHash(t, `{"a":1}`) {
		t.Error("a string and a number hash the same")
	}
	if mustHash(t, `{"a":100000000000000000001}`) == mustHash(t, `{"a":100000000000000000000}`) {
		t.Error("large integers were rounded")
	}
}

func TestCanonicalNumber(t *testing.T) {
	for in, want := range map[string]string{
		"0": "0", "-0.0": "0", "1": "1", "1.0": "1", "10": "10", "1e1": "10", "100e-2": "1",
		"0.5": "0.5", "-12.340": "-12.34", "1e20": "100000000000000000000", "1e21": "1e+21",
		"0.000001": "0.000001", "0.0000001": "1e-7", "123456789012345678901234": "1.23456789012345678901234e+23",
		"1.5e-10": "1.5e-10",
	} {
		got, err := canonicalNumber(in)
		if err != nil || got != want {
			t.Errorf("canonicalNumber(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestArgumentsModes(t *testing.T) {
	args := `{"user":"bob","password":"hunter2","items":[{"token":"t1","id":1},{"token":"t2","id":2}],"api-key":"k"}`
	tests := []struct {
		mode     string
		redact   []string
		wantArgs string
		wantHash bool
		redacted []string
	}{
		{mode: "none"},
		{mode: "hash", wantHash: true},
		{mode: "full", wantHash: true, wantArgs: `{"api-key":"k","items":[{"id":1,"token":"t1"},{"id":2,"token":"t2"}],"password":"hunter2","user":"bob"}`},
		{mode: "full", wantHash: true, redact: []string{"args.password", "args.items[*].token", `args["api-key"]`, "args.missing"},
			wantArgs: `{"api-key":"[REDACTED]","items":[{"id":1,"token":"[REDACTED]"},{"id":2,"token":"[REDACTED]"}],"password":"[REDACTED]","user":"bob"}`,
			redacted: []string{"args.password", "args.items[*].token", `args["api-key"]`}},
		{mode: "full", wantHash: true, redact: []string{"args.items[1]"},
			wantArgs: `{"api-key":"k","items":[{"id":1,"token":"t1"},"[REDACTED]"],"password":"hunter2","user":"bob"}`,
			redacted: []string{"args.items[1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.mode+strings.Join(tc.redact, ","), func(t *testing.T) {
			dir := t.TempDir()
			l := openLog(t, Options{Dir: dir})
			if err := l.SetConfig(policy.AuditConfig{Arguments: tc.mode, Redact: tc.redact}); err != nil {
				t.Fatal(err)
			}
			ev := callEvent(1)
			ev.Args = []byte(args)
			l.Record(ev)
			clear(ev.Args) // Record must have copied what it keeps
			l.Close()
			rec := readLines(t, dir)[0]
			if got := string(rec.Args); got != tc.wantArgs {
				t.Errorf("args = %s, want %s", got, tc.wantArgs)
			}
			if (rec.ArgsSHA256 != "") != tc.wantHash {
				t.Errorf("args_sha256 = %q, want present=%v", rec.ArgsSHA256, tc.wantHash)
			}
			if tc.wantHash && rec.ArgsSHA256 != mustHash(t, args) {
				t.Error("the hash is not of the original arguments")
			}
			if d := cmp.Diff(tc.redacted, rec.Redacted); d != "" {
				t.Errorf("redacted (-want +got):\n%s", d)
			}
			raw, _ := os.ReadFile(readFilesPath(t, dir))
			if tc.mode != "full" || len(tc.redact) > 1 {
				if bytes.Contains(raw, []byte("hunter2")) {
					t.Error("the password reached the audit file")
				}
			}
		})
	}
}

func readFilesPath(t *testing.T, dir string) string {
	files, err := ListFiles(dir)
	if err != nil || len(files) == 0 {
		t.Fatalf("no audit files: %v", err)
	}
	return files[0].Path
}

func TestBadRedactPath(t *testing.T) {
	l := openLog(t, Options{Dir: t.TempDir()})
	for _, p := range []string{"state.x.y", "args", "args.[", `args["x`} {
		if err := l.SetConfig(policy.AuditConfig{Arguments: "full", Redact: []string{p}}); err == nil {
			t.Errorf("SetConfig accepted redact path %q", p)
		}
	}
}

// writeChain writes n call lines (plus start and stop) with the given
// rotation size and returns the directory.
func writeChain(t *testing.T, n int, maxSize int64) string {
	t.Helper()
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir, MaxSize: maxSize, Buffer: n + 8})
	l.Start(StartInfo{Version: "test"})
	for i := range n {
		l.Record(callEvent(i))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func fileLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	s := strings.Join(lines, "")
	if !strings.HasSuffix(s, "\n") && s != "" {
		s += "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fixNL makes every element end in '\n' so lines can be moved around.
func fixNL(lines []string) []string {
	for i, l := range lines {
		if !strings.HasSuffix(l, "\n") {
			lines[i] = l + "\n"
		}
	}
	return lines
}

func TestRotationKeepsTheChain(t *testing.T) {
	dir := writeChain(t, 40, 1200)
	files, _ := ListFiles(dir)
	if len(files) < 4 {
		t.Fatalf("got %d files, want rotation into several", len(files))
	}
	for _, f := range files {
		if fi, _ := os.Stat(f.Path); fi.Size() > 1200 {
			t.Errorf("%s is %d bytes, over --audit-max-size", f.Path, fi.Size())
		}
	}
	l1 := fileLines(t, files[0].Path)
	r1, _ := ParseLine([]byte(strings.TrimSpace(l1[len(l1)-1])))
	r2, _ := ParseLine([]byte(strings.TrimSpace(fileLines(t, files[1].Path)[0])))
	if r2.Prev != r1.Hash || r2.Seq != r1.Seq+1 {
		t.Errorf("file 2 does not continue file 1: prev %s seq %d after hash %s seq %d", r2.Prev, r2.Seq, r1.Hash, r1.Seq)
	}
	rep := verifyDir(t, dir)
	if rep.Problem != nil || rep.Lines != 42 || rep.FirstSeq != 1 || rep.LastSeq != 42 || !rep.Stopped {
		t.Errorf("verify: %+v", rep)
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	type edit func(t *testing.T, files []ChainFile)
	onFile := func(i int, f func([]string) []string) edit {
		return func(t *testing.T, files []ChainFile) {
			writeLines(t, files[i].Path, f(fixNL(fileLines(t, files[i].Path))))
		}
	}
	tests := []struct {
		name     string
		edit     edit
		wantFile int // index of the file named in the problem
		wantLine int
		wantMsg  string
	}{
		{"edit a field", onFile(0, func(l []string) []string {
			l[2] = strings.Replace(l[2], `"decision":"allow"`, `"decision":"deny"`, 1)
			return l
		}), 0, 3, "content does not match its hash"},
		{"edit a field of the last line", func(t *testing.T, files []ChainFile) {
			last := files[len(files)-1].Path
			l := fileLines(t, last)
			l[len(l)-1] = strings.Replace(l[len(l)-1], `"event":"stop"`, `"event":"call"`, 1)
			writeLines(t, last, l)
		}, -3, -1, "content does not match its hash"},
		{"edit and rehash a line", onFile(0, func(l []string) []string {
			r, _ := ParseLine([]byte(strings.TrimSpace(l[2])))
			r.Tool = "other"
			line, _, _ := encodeLine(r)
			l[2] = string(line)
			return l
		}), 0, 4, "a line was changed or replaced"},
		{"delete a line", onFile(0, func(l []string) []string {
			return append(l[:3:3], l[4:]...)
		}), 0, 4, "1 line(s) were removed"},
		{"swap two lines", onFile(0, func(l []string) []string {
			l[3], l[4] = l[4], l[3]
			return l
		}), 0, 4, "reordered"},
		{"truncate mid-line", func(t *testing.T, files []ChainFile) {
			data, _ := os.ReadFile(files[1].Path)
			os.WriteFile(files[1].Path, data[:len(data)-30], 0o600)
		}, 1, -1, "incomplete"},
		{"truncate whole lines before a rotation", onFile(0, func(l []string) []string {
			return l[:len(l)-2]
		}), 1, 1, "2 line(s) were removed"},
		{"delete the first line after a rotation", onFile(1, func(l []string) []string {
			return l[1:]
		}), 1, 1, "1 line(s) were removed"},
		{"swap lines across a rotation", func(t *testing.T, files []ChainFile) {
			a, b := fixNL(fileLines(t, files[0].Path)), fixNL(fileLines(t, files[1].Path))
			a[len(a)-1], b[0] = b[0], a[len(a)-1]
			writeLines(t, files[0].Path, a)
			writeLines(t, files[1].Path, b)
		}, 0, -1, "reordered"},
		{"remove a whole middle file", func(t *testing.T, files []ChainFile) {
			os.Remove(files[1].Path)
		}, 2, 1, "were removed"},
		{"remove the first line of the chain", onFile(0, func(l []string) []string {
			l, _ = l[1:], l[0]
			return l
		}), -2, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeChain(t, 30, 2500)
			files, _ := ListFiles(dir)
			if len(files) < 3 {
				t.Fatalf("want at least 3 files, got %d", len(files))
			}
			if rep := verifyDir(t, dir); rep.Problem != nil {
				t.Fatalf("untouched chain: %v", rep.Problem)
			}
			tc.edit(t, files)
			rep := verifyDir(t, dir)
			if tc.wantFile == -2 {
				// The start of a chain is trusted (earlier files may be
				// archived): the report shows where it starts instead.
				if rep.Problem != nil || rep.FirstSeq != 2 {
					t.Errorf("got %+v, want ok starting at seq 2", rep)
				}
				return
			}
			if rep.Problem == nil {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			p := rep.Problem
			if tc.wantFile == -3 {
				tc.wantFile = len(files) - 1
			}
			wantLine := tc.wantLine
			if wantLine == -1 {
				wantLine = len(fileLines(t, files[tc.wantFile].Path))
			}
			if p.File != files[tc.wantFile].Path || p.Line != wantLine || !strings.Contains(p.Msg, tc.wantMsg) {
				t.Errorf("problem %v; want %s:%d: …%s…", p, filepath.Base(files[tc.wantFile].Path), wantLine, tc.wantMsg)
			}
		})
	}
}

func TestVerifyFilesInAnyOrder(t *testing.T) {
	dir := writeChain(t, 20, 1500)
	files, _ := ListFiles(dir)
	var paths []string
	for i := len(files) - 1; i >= 0; i-- {
		paths = append(paths, files[i].Path)
	}
	reps, err := Verify(paths)
	if err != nil || len(reps) != 1 || reps[0].Problem != nil || reps[0].Lines != 22 {
		t.Fatalf("Verify(reversed) = %+v, %v", reps, err)
	}
}

func TestChainContinuesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	for i := range 3 {
		l := openLog(t, Options{Dir: dir, Instance: fmt.Sprint("run", i)})
		l.Start(StartInfo{})
		l.Record(callEvent(i))
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := ListFiles(dir)
	if len(files) != 1 {
		t.Errorf("got %d files, want restarts to append to one", len(files))
	}
	rep := verifyDir(t, dir)
	if rep.Problem != nil || rep.Lines != 9 {
		t.Errorf("verify: %+v", rep)
	}
}

func TestRestartAfterPartialLine(t *testing.T) {
	dir := writeChain(t, 3, 0)
	files, _ := ListFiles(dir)
	f, _ := os.OpenFile(files[0].Path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time":"2026`) // a crash mid-write
	f.Close()
	l := openLog(t, Options{Dir: dir})
	l.Record(callEvent(9))
	l.Close()
	files, _ = ListFiles(dir)
	if len(files) != 2 {
		t.Fatalf("got %d files, want a new file after the partial line", len(files))
	}
	rep, err := Verify([]string{files[1].Path})
	if err != nil || rep[0].Problem != nil {
		t.Fatalf("new file: %+v %v", rep, err)
	}
	first, _ := ParseLine([]byte(strings.TrimSpace(fileLines(t, files[1].Path)[0])))
	if first.Event != KindRecovered || first.Seq != 6 {
		t.Errorf("first line of the new file: %+v", first)
	}
	if rep := verifyDir(t, dir); rep.Problem == nil || !strings.Contains(rep.Problem.Msg, "incomplete") {
		t.Errorf("the partial line must still be reported: %+v", rep)
	}
}

func TestConcurrentInstancesUseSeparateChains(t *testing.T) {
	dir := t.TempDir()
	a := openLog(t, Options{Dir: dir, Instance: "a"})
	b := openLog(t, Options{Dir: dir, Instance: "b"})
	if a.Chain() == b.Chain() {
		t.Fatalf("both instances write chain %d", a.Chain())
	}
	var wg sync.WaitGroup
	for _, l := range []*Log{a, b} {
		wg.Go(func() {
			for i := range 50 {
				l.Record(callEvent(i))
			}
		})
	}
	wg.Wait()
	a.Close()
	b.Close()
	reps, err := Verify([]string{dir})
	if err != nil || len(reps) != 2 {
		t.Fatalf("Verify = %+v, %v", reps, err)
	}
	for _, r := range reps {
		if r.Problem != nil || r.Lines != 51 {
			t.Errorf("chain %s: %+v", r.Name, r)
		}
	}
	c := openLog(t, Options{Dir: dir})
	if c.Chain() != 0 {
		t.Errorf("a restarted Tollgate took chain %d, want the lowest free (0)", c.Chain())
	}
}

// failingFile fails writes with ENOSPC while full is set, after writing
// part of the line, as a full disk does.
type failingFile struct {
	*os.File
	mu   *sync.Mutex
	full *bool
}

func (f failingFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if *f.full {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

func TestDiskFull(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	full := false
	setFull := func(v bool) { mu.Lock(); full = v; mu.Unlock() }
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil))
	l := openLog(t, Options{Dir: dir, Logger: logger, Buffer: 100, OpenFile: func(path string) (File, error) {
		f, err := openAppend(path)
		if err != nil {
			return nil, err
		}
		return failingFile{f.(*os.File), &mu, &full}, nil
	}})
	l.Record(callEvent(0))
	mcptest.Eventually(t, 10*time.Second, func() bool { return l.Stats().Written == 1 }, "one line written")
	setFull(true)
	for i := 1; i <= 3; i++ {
		l.Record(callEvent(i))
	}
	mcptest.Eventually(t, 10*time.Second, func() bool { return l.Stats().Lost == 3 }, "three lines lost")
	// While lines are lost, the trail says it is not recording.
	if err := l.Writable(); err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Errorf("Writable while the disk is full = %v", err)
	}
	setFull(false)
	l.Record(callEvent(4))
	mcptest.Eventually(t, 10*time.Second, func() bool { return l.Writable() == nil }, "writable again once a write succeeds")
	if err := l.Close(); err != nil {
		t.Fatalf("Close after recovery: %v", err)
	}
	logMu.Lock()
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("the write failure was not logged: %s", logs.String())
	}
	logMu.Unlock()
	recs := readLines(t, dir)
	var kinds []string
	for _, r := range recs {
		kinds = append(kinds, r.Event)
	}
	if d := cmp.Diff([]string{"call", "lost", "call", "stop"}, kinds); d != "" {
		t.Fatalf("lines (-want +got):\n%s", d)
	}
	if recs[1].Count != 3 || !strings.Contains(recs[1].Error, "no space left") {
		t.Errorf("lost line: %+v", recs[1])
	}
	if rep := verifyDir(t, dir); rep.Problem != nil {
		t.Errorf("the chain is broken after a failed write: %v", rep.Problem)
	}
}

func TestDiskFullAtClose(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	full := true
	l := openLog(t, Options{Dir: dir, OpenFile: func(path string) (File, error) {
		f, err := openAppend(path)
		if err != nil {
			return nil, err
		}
		return failingFile{f.(*os.File), &mu, &full}, nil
	}})
	l.Record(callEvent(0))
	err := l.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Close = %v, want ENOSPC reported", err)
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// blockingFile blocks every write until release is closed, and says on
// entered (without waiting) when a write has started.
type blockingFile struct {
	*os.File
	entered chan<- struct{}
	release chan struct{}
}

func (f blockingFile) Write(p []byte) (int, error) {
	select {
	case f.entered <- struct{}{}:
	default:
	}
	<-f.release
	return f.File.Write(p)
}

func TestFullBufferDropsWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	l := openLog(t, Options{Dir: dir, Buffer: 4, OpenFile: func(path string) (File, error) {
		f, err := openAppend(path)
		if err != nil {
			return nil, err
		}
		return blockingFile{f.(*os.File), entered, release}, nil
	}})
	// The writer takes what is queued into the write it is making, so
	// let it get stuck on the first line before the others come.
	l.Record(callEvent(0))
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer never wrote")
	}
	done := make(chan struct{})
	go func() {
		for i := 1; i < 100; i++ {
			l.Record(callEvent(i))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Record blocked on a stuck disk")
	}
	dropped := l.Stats().Dropped
	if dropped < 100-4-1 {
		t.Errorf("dropped %d of 100 with a buffer of 4", dropped)
	}
	if err := l.Writable(); err == nil || !strings.Contains(err.Error(), "buffer is full") {
		t.Errorf("Writable with dropped lines not on record = %v", err)
	}
	close(release)
	// Once the writer catches up, the dropped line puts them on record
	// (the lines recorded meanwhile give it groups to write).
	total := int64(100)
	mcptest.Eventually(t, 10*time.Second, func() bool {
		l.Record(callEvent(int(total)))
		total++
		return l.Writable() == nil
	}, "writable once the drops are on record")
	l.Close()
	dropped = l.Stats().Dropped
	recs := readLines(t, dir)
	var calls, counted int64
	for _, r := range recs {
		switch r.Event {
		case KindCall:
			calls++
		case KindDropped:
			counted += r.Count
		}
	}
	if calls+counted != total || counted != dropped {
		t.Errorf("%d call lines + %d counted as dropped, want %d with %d dropped", calls, counted, total, dropped)
	}
	if rep := verifyDir(t, dir); rep.Problem != nil {
		t.Error(rep.Problem)
	}
}

func TestLinesAreValidJSON(t *testing.T) {
	dir := writeChain(t, 5, 0)
	data, _ := os.ReadFile(readFilesPath(t, dir))
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if _, ok := m["hash"]; !ok {
			t.Fatalf("no hash in %s", line)
		}
	}
}
