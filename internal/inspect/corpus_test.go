package inspect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// allApply runs every detector with the strongest action it takes.
func allApply(t testing.TB) *Inspector {
	t.Helper()
	in, err := Compile(Config{Detectors: map[string]Action{"secret": Redact, "pii": Redact, "injection": Fence}})
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// cleanDocs returns the clean corpus as JSON documents: each .json file as
// it is, and every file as the text of a tool result.
func cleanDocs(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob("testdata/clean/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("clean corpus: %v", err)
	}
	docs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(f, ".json") {
			docs[f] = b
		}
		doc, err := json.Marshal(map[string]any{"content": []any{map[string]any{"type": "text", "text": string(b)}}})
		if err != nil {
			t.Fatal(err)
		}
		docs[f+" as text"] = doc
	}
	return docs
}

// Ordinary tool output raises no alarm.
func TestCleanCorpus(t *testing.T) {
	in := allApply(t)
	total := 0
	for name, doc := range cleanDocs(t) {
		total += len(doc)
		out, fs, err := in.Apply(doc)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, f := range fs {
			var text string
			if v, ok := lookup(t, doc, f.Path).(string); ok && f.End <= len(v) {
				text = v[max(0, f.Start-30):min(len(v), f.End+30)]
			}
			t.Errorf("%s: %s at %s [%d:%d]: …%q…", name, f.Detector, f.Path, f.Start, f.End, text)
		}
		if len(fs) == 0 && &out[0] != &doc[0] {
			t.Errorf("%s: output is not the input", name)
		}
	}
	if total < 200<<10 {
		t.Errorf("clean corpus is %d bytes, want at least 200 KiB", total)
	}
}

// lookup finds the value at a path of the form Finding.Path uses (keys
// and indexes only; enough for the corpus).
func lookup(t testing.TB, doc []byte, path string) any {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	segs, err := parsePath(path)
	if path == "" {
		return v
	}
	if err != nil {
		t.Fatalf("path %q: %v", path, err)
	}
	for _, s := range segs {
		switch x := v.(type) {
		case map[string]any:
			v = x[s.Key]
		case []any:
			v = x[s.Index]
		}
	}
	return v
}

type planted struct {
	Detector string          `json:"detector"`
	Path     string          `json:"path"`
	Doc      json.RawMessage `json:"doc"`
}

// Every planted secret, personal datum and injection is found where it was
// planted, and Apply removes or fences it.
func TestPlantedCorpus(t *testing.T) {
	b, err := os.ReadFile("testdata/planted.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []planted
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	in := allApply(t)
	for i, c := range cases {
		seen[c.Detector] = true
		out, fs, err := in.Apply(c.Doc)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		ok := false
		for _, f := range fs {
			ok = ok || f.Detector == c.Detector && f.Path == c.Path
		}
		if !ok {
			t.Errorf("case %d: %s at %s not found in %s (found %+v)", i, c.Detector, c.Path, c.Doc, fs)
			continue
		}
		if !json.Valid(out) {
			t.Errorf("case %d: output is not JSON: %s", i, out)
		}
		want := "[REDACTED:" + c.Detector + "]"
		if detectors[mustDet(t, c.Detector)].class == Injection {
			want = "[UNTRUSTED CONTENT "
		}
		if s, _ := lookup(t, out, c.Path).(string); !strings.Contains(s, want) {
			t.Errorf("case %d: %s at %s = %q, want it to hold %q", i, c.Detector, c.Path, s, want)
		}
	}
	for _, d := range Detectors() {
		if !seen[d.Name] {
			t.Errorf("no planted case for %s", d.Name)
		}
	}
}

func mustDet(t testing.TB, name string) detID {
	d, ok := detectorByName(name)
	if !ok {
		t.Fatalf("unknown detector %s", name)
	}
	return d
}
