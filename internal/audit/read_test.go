package audit

import (
	"os"
	"testing"
	"time"
)

func TestRunningFollowsTheLock(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, Options{Dir: dir})
	if !Running(dir, l.Chain()) {
		t.Error("an open Log's chain is not reported running")
	}
	if Running(dir, l.Chain()+1) {
		t.Error("a chain nobody holds is reported running")
	}
	l.Close()
	if Running(dir, l.Chain()) {
		t.Error("a closed Log's chain is still reported running")
	}
}

func TestScanSkipsOldFilesButNotTheNewest(t *testing.T) {
	dir := writeChain(t, 30, 1500)
	files, _ := ListFiles(dir)
	old := time.Now().Add(-48 * time.Hour)
	for _, f := range files {
		os.Chtimes(f.Path, old, old)
	}
	var n int
	var seen []string
	bad, err := Scan(dir, time.Now().Add(-time.Hour), func(f ChainFile, r *Record) {
		n++
		seen = append(seen, f.Path)
	})
	if err != nil || bad != 0 {
		t.Fatal(err, bad)
	}
	for _, p := range seen {
		if p != files[len(files)-1].Path {
			t.Fatalf("read %s, an old file", p)
		}
	}
	if n == 0 {
		t.Error("the newest file of the chain was skipped")
	}
	all := 0
	Scan(dir, time.Time{}, func(ChainFile, *Record) { all++ })
	if all != 32 {
		t.Errorf("scanned %d lines from the start of time, want 32", all)
	}
}
