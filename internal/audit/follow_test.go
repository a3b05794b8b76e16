package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFollower(t *testing.T) {
	dir := t.TempDir()
	f1 := filepath.Join(dir, "tollgate-0-000001.jsonl")
	line := func(tool string) string {
		return fmt.Sprintf(`{"time":"2026-01-01T00:00:00Z","event":"call","instance":"i","tool":%q,"seq":1,"prev":""}`+"\n", tool)
	}
	appendTo := func(path, s string) {
		t.Helper()
		fh, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fh.WriteString(s); err != nil {
			t.Fatal(err)
		}
		fh.Close()
	}
	fl := NewFollower(dir)
	poll := func() []string {
		t.Helper()
		var got []string
		if _, err := fl.Poll(func(_ ChainFile, r *Record) { got = append(got, r.Tool) }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(step string, want []string) {
		t.Helper()
		if diff := cmp.Diff(want, poll()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", step, diff)
		}
	}

	check("empty directory", nil)
	appendTo(f1, line("a")+line("b"))
	check("first lines", []string{"a", "b"})
	check("nothing new", nil)

	half := line("c")
	appendTo(f1, half[:10])
	check("a line being written is not read", nil)
	appendTo(f1, half[10:]+"not json\n")
	check("once complete it is, a bad line is skipped", []string{"c"})

	appendTo(filepath.Join(dir, "tollgate-0-000002.jsonl"), line("d"))
	appendTo(filepath.Join(dir, "tollgate-1-000001.jsonl"), line("e"))
	check("rotation and a second chain", []string{"d", "e"})

	if err := os.WriteFile(f1, []byte(line("f")), 0o600); err != nil {
		t.Fatal(err)
	}
	check("a file replaced by a shorter one is read again", []string{"f"})
}

func TestFollowerBacklog(t *testing.T) {
	dir := t.TempDir()
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, `{"time":"2026-01-01T00:00:00Z","event":"call","instance":"i","tool":"t%03d","seq":1,"prev":""}`+"\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "tollgate-0-000001.jsonl"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	fl := NewFollower(dir)
	fl.MaxBacklog = 300 // a little over three lines
	var got []string
	bad, err := fl.Poll(func(_ ChainFile, r *Record) { got = append(got, r.Tool) })
	if err != nil || bad != 0 {
		t.Fatalf("Poll: bad %d, err %v", bad, err)
	}
	if len(got) == 0 || len(got) > 4 || got[len(got)-1] != "t099" {
		t.Errorf("backlog: got %v, want the last few lines ending with t099", got)
	}
}
