package clientconf

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLocationsPerOS(t *testing.T) {
	tests := []struct {
		env  Env
		want map[string][]string // client -> paths
	}{
		{
			env: Env{GOOS: "linux", Home: "/home/me", Dir: "/work/app"},
			want: map[string][]string{
				ClaudeDesktop: {"/home/me/.config/Claude/claude_desktop_config.json"},
				ClaudeCode:    {"/home/me/.claude.json", "/work/app/.mcp.json"},
				Cursor:        {"/home/me/.cursor/mcp.json", "/work/app/.cursor/mcp.json"},
				VSCode:        {"/home/me/.config/Code/User/settings.json", "/home/me/.config/Code/User/mcp.json", "/work/app/.vscode/mcp.json"},
				Windsurf:      {"/home/me/.codeium/windsurf/mcp_config.json"},
			},
		},
		{
			env: Env{GOOS: "linux", Home: "/home/me", XDGConfigHome: "/xdg"},
			want: map[string][]string{
				ClaudeDesktop: {"/xdg/Claude/claude_desktop_config.json"},
				ClaudeCode:    {"/home/me/.claude.json"},
				Cursor:        {"/home/me/.cursor/mcp.json"},
				VSCode:        {"/xdg/Code/User/settings.json", "/xdg/Code/User/mcp.json"},
				Windsurf:      {"/home/me/.codeium/windsurf/mcp_config.json"},
			},
		},
		{
			env: Env{GOOS: "darwin", Home: "/Users/me", XDGConfigHome: "/ignored"},
			want: map[string][]string{
				ClaudeDesktop: {"/Users/me/Library/Application Support/Claude/claude_desktop_config.json"},
				ClaudeCode:    {"/Users/me/.claude.json"},
				Cursor:        {"/Users/me/.cursor/mcp.json"},
				VSCode:        {"/Users/me/Library/Application Support/Code/User/settings.json", "/Users/me/Library/Application Support/Code/User/mcp.json"},
				Windsurf:      {"/Users/me/.codeium/windsurf/mcp_config.json"},
			},
		},
		{
			env: Env{GOOS: "windows", Home: "/C/Users/me", AppData: "/C/Users/me/AppData/Roaming"},
			want: map[string][]string{
				ClaudeDesktop: {"/C/Users/me/AppData/Roaming/Claude/claude_desktop_config.json"},
				ClaudeCode:    {"/C/Users/me/.claude.json"},
				Cursor:        {"/C/Users/me/.cursor/mcp.json"},
				VSCode:        {"/C/Users/me/AppData/Roaming/Code/User/settings.json", "/C/Users/me/AppData/Roaming/Code/User/mcp.json"},
				Windsurf:      {"/C/Users/me/.codeium/windsurf/mcp_config.json"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.env.GOOS, func(t *testing.T) {
			got := map[string][]string{}
			for _, l := range Locations(tt.env) {
				got[l.Client] = append(got[l.Client], filepath.ToSlash(l.Path))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Locations(%+v) (-want +got):\n%s", tt.env, diff)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Real files of each client's shape, at each OS's place in a temp home:
// every entry is found, with its transport and whether it is guarded.
func TestLoadEveryClientOnEveryOS(t *testing.T) {
	desktop := `{"mcpServers": {"everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]}}, "globalShortcut": ""}`
	cursor := `{"mcpServers": {"gh": {"command": "docker", "args": ["run", "-i", "ghcr.io/github/github-mcp-server"], "env": {"GITHUB_TOKEN": "t"}},
	  "linear": {"url": "https://mcp.linear.app/sse", "headers": {"Authorization": "Bearer x"}}}}`
	windsurf := `{"mcpServers": {"remote": {"serverUrl": "https://example.com/mcp"}, "local": {"command": "uvx", "args": ["mcp-server-time"]}}}`
	vscodeMCP := `{"servers": {"playwright": {"type": "stdio", "command": "npx", "args": ["@playwright/mcp@latest"]}}, "inputs": []}`
	for _, goos := range []string{"linux", "darwin", "windows"} {
		t.Run(goos, func(t *testing.T) {
			home, proj := t.TempDir(), t.TempDir()
			env := Env{GOOS: goos, Home: home, Dir: proj}
			files := map[string]string{}
			for _, l := range Locations(env) {
				switch {
				case l.Client == ClaudeDesktop:
					files[l.Path] = desktop
				case l.Client == ClaudeCode && !l.Project:
					files[l.Path] = readTestdata(t, "claude.json")
				case l.Client == ClaudeCode:
					files[l.Path] = `{"mcpServers": {"proj": {"command": "node", "args": ["server.js"]}}}`
				case l.Client == Cursor:
					files[l.Path] = cursor
				case l.Shape == ShapeVSCodeSettings:
					files[l.Path] = readTestdata(t, "vscode-settings.jsonc")
				case l.Client == VSCode:
					files[l.Path] = vscodeMCP
				case l.Client == Windsurf:
					files[l.Path] = windsurf
				}
			}
			for p, c := range files {
				writeFile(t, p, c)
			}
			type found struct {
				Client, Name, Project string
				Transport             Transport
				Guarded               bool
			}
			var got []found
			for _, l := range Locations(env) {
				f, err := Load(l, IsTollgate(""))
				if err != nil {
					t.Fatalf("Load(%s): %v", l.Path, err)
				}
				for _, s := range f.Servers {
					got = append(got, found{s.Client, s.Name, s.Project, s.Transport, s.Guarded})
				}
			}
			want := []found{
				{ClaudeDesktop, "everything", "", Stdio, false},
				{ClaudeCode, "memory", "", Stdio, false},
				{ClaudeCode, "db", "/home/me/app", Stdio, false},
				{ClaudeCode, "guarded", "/home/me/app", Stdio, true},
				{ClaudeCode, "proj", "", Stdio, false},
				{Cursor, "gh", "", Stdio, false},
				{Cursor, "linear", "", Remote, false},
				{Cursor, "gh", "", Stdio, false},
				{Cursor, "linear", "", Remote, false},
				{VSCode, "fs", "", Stdio, false},
				{VSCode, "remote", "", Remote, false},
				{VSCode, "playwright", "", Stdio, false},
				{VSCode, "playwright", "", Stdio, false},
				{Windsurf, "remote", "", Remote, false},
				{Windsurf, "local", "", Stdio, false},
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("servers (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(Location{Client: Cursor, Path: filepath.Join(t.TempDir(), "mcp.json"), Shape: ShapeMCPServers}, nil)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Load of a missing file: %v, want os.ErrNotExist", err)
		}
	})
}

// cutSpans removes the values of the given keys of every server entry, so
// that what is left is everything Guard promised not to touch.
func cutSpans(t *testing.T, data []byte, path []string, keys ...string) string {
	t.Helper()
	root, err := Parse(data)
	if err != nil {
		t.Fatalf("parse:\n%s\n%v", data, err)
	}
	n := root
	for _, p := range path {
		n = n.Get(p)
	}
	var out bytes.Buffer
	pos := 0
	for _, m := range n.Members {
		for _, k := range keys {
			if v := m.Value.Get(k); v != nil {
				out.Write(data[pos:v.Start])
				out.WriteString("<" + k + ">")
				pos = v.End
			}
		}
	}
	out.Write(data[pos:])
	return out.String()
}

// A stdio entry in a JSONC file: only the command and args values change;
// comments, trailing commas, tabs, the env and cwd, and every other entry
// keep their bytes.
func TestGuardKeepsJSONCByteForByte(t *testing.T) {
	src := readTestdata(t, "vscode-settings.jsonc")
	l := Location{Client: VSCode, Path: "settings.json", Shape: ShapeVSCodeSettings}
	f, err := parseFile(l, []byte(src), IsTollgate(""))
	if err != nil {
		t.Fatal(err)
	}
	rw := NewRewrite(f)
	if _, err := rw.Guard(f.Servers[0], Wrap{Tollgate: "/opt/tollgate", Policy: "/p/vscode-fs.yaml"}); err != nil {
		t.Fatal(err)
	}
	out, err := rw.Apply()
	if err != nil {
		t.Fatal(err)
	}
	path := []string{"mcp", "servers"}
	if got, want := cutSpans(t, out, path, "command", "args"), cutSpans(t, []byte(src), path, "command", "args"); got != want {
		t.Errorf("bytes outside command and args changed:\n%s", cmp.Diff(want, got))
	}
	g, err := parseFile(l, out, IsTollgate(""))
	if err != nil {
		t.Fatal(err)
	}
	fs := g.Servers[0]
	wantArgs := []string{"run", "-c", "/p/vscode-fs.yaml", "--", "npx", "-y", "@modelcontextprotocol/server-filesystem", "/home/me/src"}
	if fs.Command != "/opt/tollgate" || !cmp.Equal(fs.Args, wantArgs) || !fs.Guarded || fs.PolicyPath != "/p/vscode-fs.yaml" {
		t.Errorf("guarded entry: command %q args %q guarded %v policy %q", fs.Command, fs.Args, fs.Guarded, fs.PolicyPath)
	}
	// The args keep their one-per-line layout and the file's tabs.
	if !strings.Contains(string(out), "\"args\": [\n\t\t\t\t\t\"run\",\n\t\t\t\t\t\"-c\",") {
		t.Errorf("args layout not kept:\n%s", out)
	}
	if fs.Env["FS_TOKEN"] != "planted-secret-fs" {
		t.Errorf("env lost: %v", fs.Env)
	}
}

// An entry with no args gets them after its command; one-line entries stay
// on one line.
func TestGuardAddsArgs(t *testing.T) {
	src := "{\n  \"mcpServers\": {\n    \"a\": {\n      \"command\": \"srv\",\n      \"env\": {\"K\": \"v\"}\n    },\n    \"b\": {\"command\": \"x\", \"args\": [\"1\"]}\n  }\n}\n"
	f, err := parseFile(Location{Client: ClaudeDesktop, Shape: ShapeMCPServers}, []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	rw := NewRewrite(f)
	for _, s := range f.Servers {
		if _, err := rw.Guard(s, Wrap{Tollgate: "/t", Policy: "/p.yaml"}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := rw.Apply()
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"mcpServers\": {\n    \"a\": {\n      \"command\": \"/t\",\n      \"args\": [\"run\", \"-c\", \"/p.yaml\", \"--\", \"srv\"],\n      \"env\": {\"K\": \"v\"}\n    },\n    \"b\": {\"command\": \"/t\", \"args\": [\"run\", \"-c\", \"/p.yaml\", \"--\", \"x\", \"1\"]}\n  }\n}\n"
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A remote entry becomes a stdio one running tollgate run --upstream; each
// header's value moves into env and the args name it only as ${VAR}.
func TestGuardRemote(t *testing.T) {
	const secret = "Bearer planted-secret-hdr"
	tests := []struct {
		name, src string
		shape     Shape
		wantURL   string
	}{
		{"cursor", `{"mcpServers": {"r": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "` + secret + `", "X-Team": "blue"}, "env": {"TOLLGATE_HEADER_X_TEAM": "taken"}}}}`, ShapeMCPServers, "https://mcp.example.com/mcp"},
		{"windsurf", "{\n  \"mcpServers\": {\n    \"r\": {\n      \"serverUrl\": \"https://w.example.com/sse\",\n      \"headers\": {\n        \"Authorization\": \"" + secret + "\"\n      },\n      \"disabled\": false\n    }\n  }\n}", ShapeMCPServers, "https://w.example.com/sse"},
		{"vscode", readTestdata(t, "vscode-settings.jsonc"), ShapeVSCodeSettings, "https://mcp.example.com/mcp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseFile(Location{Client: tt.name, Shape: tt.shape}, []byte(tt.src), IsTollgate(""))
			if err != nil {
				t.Fatal(err)
			}
			var s *Server
			for _, x := range f.Servers {
				if x.Transport == Remote {
					s = x
				}
			}
			rw := NewRewrite(f)
			vars, err := rw.Guard(s, Wrap{Tollgate: "/opt/tollgate", Policy: "/p.yaml"})
			if err != nil {
				t.Fatal(err)
			}
			out, err := rw.Apply()
			if err != nil {
				t.Fatal(err)
			}
			g, err := parseFile(f.Location, out, IsTollgate(""))
			if err != nil {
				t.Fatal(err)
			}
			var r *Server
			for _, x := range g.Servers {
				if x.Name == s.Name {
					r = x
				}
			}
			if r.Transport != Stdio || !r.Guarded || r.PolicyPath != "/p.yaml" {
				t.Fatalf("bridged entry: %+v\n%s", r, out)
			}
			want := []string{"run", "-c", "/p.yaml", "--upstream", tt.wantURL, "--header", "Authorization: ${TOLLGATE_HEADER_AUTHORIZATION}"}
			if tt.name == "cursor" {
				want = append(want, "--header", "X-Team: ${TOLLGATE_HEADER_X_TEAM_2}")
			}
			if diff := cmp.Diff(want, r.Args); diff != "" {
				t.Errorf("args (-want +got):\n%s", diff)
			}
			for _, a := range r.Args {
				if strings.Contains(a, "planted-secret") {
					t.Errorf("a header's value is in the args: %q", a)
				}
			}
			if r.Env["TOLLGATE_HEADER_AUTHORIZATION"] != secret || len(vars) == 0 {
				t.Errorf("env %v, vars %v", r.Env, vars)
			}
			if tt.name == "cursor" && (r.Env["TOLLGATE_HEADER_X_TEAM"] != "taken" || r.Env["TOLLGATE_HEADER_X_TEAM_2"] != "blue") {
				t.Errorf("an existing env key was overwritten: %v", r.Env)
			}
			if tt.name == "vscode" && !strings.Contains(string(out), `"type": "stdio"`) {
				t.Errorf("VS Code entry keeps type http:\n%s", out)
			}
			if tt.name == "windsurf" && !strings.Contains(string(out), "\"disabled\": false") {
				t.Errorf("other keys lost:\n%s", out)
			}
			// Outside the entry nothing moved.
			before, after := []byte(tt.src)[:s.node.Start], out[:s.node.Start]
			if !bytes.Equal(before, after) {
				t.Errorf("bytes before the entry changed")
			}
			tail := []byte(tt.src)[s.node.End:]
			if !bytes.HasSuffix(out, tail) {
				t.Errorf("bytes after the entry changed")
			}
		})
	}
}

func TestGuardRefusesGuarded(t *testing.T) {
	f, err := parseFile(Location{Client: ClaudeCode, Shape: ShapeClaudeJSON}, []byte(readTestdata(t, "claude.json")), IsTollgate(""))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range f.Servers {
		if s.Name == "guarded" {
			if _, err := NewRewrite(f).Guard(s, Wrap{Tollgate: "/t", Policy: "/p"}); err == nil {
				t.Error("guarding a guarded entry again: no error")
			}
		}
	}
}

func TestParseJSONC(t *testing.T) {
	good := []string{`{}`, "\ufeff{}", `{"a": [1, 2,], /* c */ "b": {"c": null,},}`, "// x\n[true, false, -1.5e3, \"\\u00e9\"]"}
	for _, s := range good {
		if _, err := Parse([]byte(s)); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
	bad := []string{``, `{`, `{"a" 1}`, `{"a": 1} x`, `/* open`, `{"a": "line` + "\n" + `"}`, `[1,,2]`, `{a: 1}`, strings.Repeat("[", 600) + strings.Repeat("]", 600)}
	for _, s := range bad {
		if _, err := Parse([]byte(s)); err == nil {
			t.Errorf("Parse(%q): no error", s)
		}
	}
}

// The backup goes back byte for byte; a file edited since init wrote it
// is refused unless forced; names never come from the content.
func TestBackupAndUndo(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "claude_desktop_config.json")
	orig := "{\"mcpServers\": {\"a\": {\"command\": \"x\", \"env\": {\"K\": \"planted-secret\"}}}}\n"
	writeFile(t, cfg, orig)
	if err := os.Chmod(cfg, 0o640); err != nil {
		t.Fatal(err)
	}
	b := &Backups{Dir: filepath.Join(dir, "state", "init")}
	guard := func() {
		t.Helper()
		f, err := Load(Location{Client: ClaudeDesktop, Path: cfg, Shape: ShapeMCPServers}, IsTollgate(""))
		if err != nil {
			t.Fatal(err)
		}
		rw := NewRewrite(f)
		if _, err := rw.Guard(f.Servers[0], Wrap{Tollgate: "/t", Policy: "/p"}); err != nil {
			t.Fatal(err)
		}
		out, err := rw.Apply()
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Write(f, out); err != nil {
			t.Fatal(err)
		}
	}
	guard()
	entries, _ := os.ReadDir(filepath.Join(b.Dir, "backups"))
	for _, e := range entries {
		if strings.Contains(e.Name(), "secret") || !strings.HasPrefix(e.Name(), ClaudeDesktop+"-") {
			t.Errorf("backup name %q", e.Name())
		}
		fi, _ := e.Info()
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("backup mode %o", fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(b.Dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("backup dir mode %o", fi.Mode().Perm())
	}
	res, err := b.Undo(false)
	if err != nil || len(res) != 1 || res[0].Outcome != "restored" {
		t.Fatalf("undo: %v %+v", err, res)
	}
	got, _ := os.ReadFile(cfg)
	if string(got) != orig {
		t.Errorf("undo gave\n%s\nwant\n%s", got, orig)
	}
	if fi, _ := os.Stat(cfg); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after undo %o, want 640", fi.Mode().Perm())
	}

	// Edited after init: refused, then forced.
	guard()
	edited, _ := os.ReadFile(cfg)
	edited = append(edited, ' ')
	writeFile(t, cfg, string(edited))
	res, err = b.Undo(false)
	if err != nil || len(res) != 1 || res[0].Outcome != "changed" || !errors.Is(res[0].Err, ErrChanged) {
		t.Fatalf("undo of an edited file: %v %+v", err, res)
	}
	if got, _ := os.ReadFile(cfg); !bytes.Equal(got, edited) {
		t.Error("a refused undo changed the file")
	}
	if res, err = b.Undo(true); err != nil || res[0].Outcome != "restored" {
		t.Fatalf("forced undo: %v %+v", err, res)
	}
	if got, _ := os.ReadFile(cfg); string(got) != orig {
		t.Errorf("forced undo gave\n%s", got)
	}
	if res, _ := b.Undo(false); len(res) != 0 {
		t.Errorf("second undo did %+v", res)
	}
}

// A file that changes between reading and writing is not overwritten.
func TestWriteRefusesAFileChangedMeanwhile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mcp.json")
	writeFile(t, cfg, `{"mcpServers": {"a": {"command": "x"}}}`)
	f, err := Load(Location{Client: Cursor, Path: cfg, Shape: ShapeMCPServers}, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfg, `{"mcpServers": {"a": {"command": "x"}, "b": {"command": "y"}}}`)
	err = (&Backups{Dir: filepath.Join(dir, "s")}).Write(f, []byte(`{}`))
	if !errors.Is(err, ErrChanged) {
		t.Errorf("Write over a changed file: %v, want ErrChanged", err)
	}
}
