package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/mcptest"
	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// fixture is the 323-tool list (testdata/README.md), relative to this package.
const fixture = "../../testdata/fusionauth-tools.json"

func runScanCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), append([]string{"scan"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func writeTools(t *testing.T, json string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tools.json")
	if err := os.WriteFile(path, []byte(json), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const smallTools = `{"tools":[
 {"name":"list_items","description":"List items"},
 {"name":"create_item","description":"Create an item"},
 {"name":"delete_item","description":"Delete an item"}]}`

func TestScanFormats(t *testing.T) {
	file := writeTools(t, smallTools)
	code, out, errs := runScanCmd(t, "--tools-file", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if _, err := policy.Load("scaffold.yaml", []byte(out)); err != nil {
		t.Errorf("default output is not a loadable policy: %v\n%s", err, out)
	}
	code, out, _ = runScanCmd(t, "--format", "json", "--tools-file", file)
	var rep struct {
		Summary struct {
			Total int `json:"total"`
		} `json:"summary"`
		Tools []struct {
			Name     string `json:"name"`
			Category string `json:"category"`
		} `json:"tools"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Summary.Total != 3 || rep.Tools[2].Category != "Destructive" {
		t.Errorf("json: exit %d, %+v", code, rep)
	}
	for _, f := range []string{"md", "html"} {
		code, out, _ = runScanCmd(t, "--format", f, "--tools-file", file)
		if code != 0 || !strings.Contains(out, "delete_item") {
			t.Errorf("%s: exit %d, output %.200q", f, code, out)
		}
	}
	dest := filepath.Join(t.TempDir(), "report.html")
	if code, out, _ = runScanCmd(t, "--format", "html", "-o", dest, "--tools-file", file); code != 0 || out != "" {
		t.Errorf("-o: exit %d, stdout %q", code, out)
	}
	if data, err := os.ReadFile(dest); err != nil || !bytes.HasPrefix(data, []byte("<!DOCTYPE html>")) {
		t.Errorf("-o wrote %.50q, %v", data, err)
	}
}

func TestScanFailOn(t *testing.T) {
	file := writeTools(t, smallTools)
	readOnly := writeTools(t, `{"tools":[{"name":"list_items"}]}`)
	cases := []struct {
		file, level string
		want        int
	}{
		{file, "critical", 1},
		{file, "high", 1},
		{file, "medium", 1},
		{readOnly, "medium", 0},
		{readOnly, "critical", 0},
	}
	for _, c := range cases {
		code, _, errs := runScanCmd(t, "--format", "json", "--fail-on", c.level, "--tools-file", c.file)
		if code != c.want {
			t.Errorf("--fail-on %s on %s: exit %d, want %d (%s)", c.level, filepath.Base(filepath.Dir(c.file)), code, c.want, errs)
		}
	}
}

func TestScanUsageErrors(t *testing.T) {
	file := writeTools(t, smallTools)
	bad := writeTools(t, `{"result":{}}`)
	cases := []struct {
		args []string
		want string
	}{
		{nil, "nothing to scan"},
		{[]string{"--format", "xml", "--tools-file", file}, `--format "xml"`},
		{[]string{"--fail-on", "low", "--tools-file", file}, `--fail-on "low"`},
		{[]string{"--tools-file", file, "--upstream", "http://x"}, "only one of"},
		{[]string{"--header", "Authorization: Bearer x", "--tools-file", file}, "--upstream only"},
		{[]string{"--header", "nocolon", "--upstream", "http://127.0.0.1:1/mcp"}, "want \"Name: value\""},
		{[]string{"--tools-file", "/nonexistent/tools.json"}, "no such file"},
		{[]string{"--tools-file", bad}, `no "tools" array`},
		{[]string{"--", "/nonexistent/server"}, "start server"},
		{[]string{"--diff", file}, "needs two files"},
	}
	for _, c := range cases {
		code, _, errs := runScanCmd(t, c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("scan %q: exit %d, stderr %q; want exit %d mentioning %q", c.args, code, errs, exitUsage, c.want)
		}
	}
	if code, _, errs := runScanCmd(t, "--help"); code != 0 || !strings.Contains(errs, "--tools-file") || !strings.Contains(errs, "Exit status") {
		t.Errorf("--help: exit %d, %q", code, errs)
	}
}

func TestScanDiff(t *testing.T) {
	dir := t.TempDir()
	scanTo := func(name, tools string) string {
		path := filepath.Join(dir, name)
		code, _, errs := runScanCmd(t, "--format", "json", "-o", path, "--tools-file", writeTools(t, tools))
		if code != 0 {
			t.Fatalf("scan: %s", errs)
		}
		return path
	}
	old := scanTo("old.json", smallTools)
	same := scanTo("same.json", smallTools)
	changed := scanTo("new.json", `{"tools":[
 {"name":"list_items","description":"List items"},
 {"name":"create_item","description":"Create an item","inputSchema":{"type":"object","properties":{"name":{"type":"string"}}}},
 {"name":"refund_item","description":"Refund an item"}]}`)

	if code, out, _ := runScanCmd(t, "--diff", old, same); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("identical scans: exit %d, %q", code, out)
	}
	code, out, _ := runScanCmd(t, "--diff", old, changed)
	for _, want := range []string{"+ refund_item", "- delete_item", "~ create_item  input schema changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("diff output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("diff with changes: exit %d, want 1", code)
	}
	code, out, _ = runScanCmd(t, "--diff", "--format", "json", old, changed)
	var d struct {
		Added   []struct{ Name string } `json:"added"`
		Removed []struct{ Name string } `json:"removed"`
		Changed []struct {
			Name          string `json:"name"`
			SchemaChanged bool   `json:"schema_changed"`
		} `json:"changed"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != 1 || len(d.Added) != 1 || len(d.Removed) != 1 || len(d.Changed) != 1 || !d.Changed[0].SchemaChanged {
		t.Errorf("json diff: exit %d, %+v, %v\n%s", code, d, err, out)
	}
}

func TestScanFixture(t *testing.T) {
	if _, err := os.Stat(fixture); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runScanCmd(t, "--format", "json", "--tools-file", fixture)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"total": 323`) {
		t.Errorf("fixture scan summary missing: %.300s", out)
	}
}

func TestScanRealServerStdio(t *testing.T) {
	bin := mcptest.Peer(t, "everything-server")
	code, out, errs := runScanCmd(t, "--format", "json", "--timeout", "60s", "--", bin)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"name": "mcp-conformance-test-server"`) || !strings.Contains(out, "test_simple_text") {
		t.Errorf("scan of the Go everything-server: %.400s", out)
	}
}
