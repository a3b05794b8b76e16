package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-mcp/tollgate/internal/clientconf"
	"github.com/tollgate-mcp/tollgate/internal/mcptest"
)

// TestInitScansWithEntryEnvAndCwd: a server that starts only with its
// entry's env and in its entry's cwd (a wrapper around the Go SDK
// everything-server that exits otherwise) is scanned, and gets a policy of
// its tools; the same wrapper without them, or with a variable the client
// would fill in, is not.
func TestInitScansWithEntryEnvAndCwd(t *testing.T) {
	home := initHome(t)
	server := mcptest.Peer(t, "everything-server")
	work := t.TempDir()
	if err := os.WriteFile(filepath.Join(work, "marker"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	wrapper := filepath.Join(t.TempDir(), "needs-env")
	script := "#!/bin/sh\n" +
		"[ \"$NEEDS_ME\" = granted ] || { echo 'NEEDS_ME is not granted' >&2; exit 3; }\n" +
		"[ -f ./marker ] || { echo 'not started in its cwd' >&2; exit 4; }\n" +
		"exec '" + server + "'\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	desktop := filepath.Join(home, ".config", "Claude", "claude_desktop_config.json")
	writeInitFile(t, desktop, `{"mcpServers": {
  "needs": {"command": "`+wrapper+`", "env": {"NEEDS_ME": "granted"}, "cwd": "`+work+`"},
  "bare": {"command": "`+wrapper+`"},
  "nocwd": {"command": "`+wrapper+`", "env": {"NEEDS_ME": "granted"}},
  "variable": {"command": "`+wrapper+`", "env": {"NEEDS_ME": "${input:grant}"}, "cwd": "`+work+`"}
}}`)
	// Tollgate's own environment has the variable too, with another value:
	// the entry's wins, and a client variable does not replace it.
	t.Setenv("NEEDS_ME", "tollgates-own")
	code, out, errs := runIn(t, "", "init", "--yes", "--tollgate", "/opt/bin/tollgate", "--timeout", "20s")
	if code != exitOK {
		t.Fatalf("init: exit %d\n%s%s", code, out, errs)
	}
	policies := filepath.Join(home, ".config", "tollgate", "policies")
	for name, scanned := range map[string]bool{"needs": true, "bare": false, "nocwd": false, "variable": false} {
		text := readString(t, filepath.Join(policies, "claude-desktop-"+name+".yaml"))
		if got := !strings.Contains(text, "not scanned"); got != scanned {
			t.Errorf("server %s: scanned %v, want %v; policy:\n%s", name, got, scanned, text)
		}
		if scanned && !strings.Contains(text, "tools:") {
			t.Errorf("server %s: the policy names no tools:\n%s", name, text)
		}
	}
	if strings.Contains(out+errs, "granted") {
		t.Errorf("an env value was printed:\n%s%s", out, errs)
	}
}

func TestEntryEnv(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/home/u", "TOKEN=tollgate", "ODD"}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"none inherits", nil, nil},
		{"empty inherits", map[string]string{}, nil},
		{"over base, sorted after it", map[string]string{"TOKEN": "entry", "A": "1"},
			[]string{"PATH=/bin", "HOME=/home/u", "ODD", "A=1", "TOKEN=entry"}},
		{"client variables left out", map[string]string{"TOKEN": "${input:token}", "B": "pre${env:X}"},
			[]string{"PATH=/bin", "HOME=/home/u", "TOKEN=tollgate", "ODD"}},
		{"names no process carries", map[string]string{"": "x", "A=B": "x", "N\x00": "x", "V": "a\x00b", "OK": ""},
			[]string{"PATH=/bin", "HOME=/home/u", "TOKEN=tollgate", "ODD", "OK="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, entryEnv(base, tc.env)); diff != "" {
				t.Errorf("entryEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEntryDir(t *testing.T) {
	project := t.TempDir()
	for _, tc := range []struct {
		s    clientconf.Server
		want string
	}{
		{clientconf.Server{Cwd: "/srv/app"}, "/srv/app"},
		{clientconf.Server{Cwd: "relative/dir"}, ""},
		{clientconf.Server{Cwd: "${workspaceFolder}/x"}, ""},
		{clientconf.Server{Cwd: "/srv/${x}"}, ""},
		{clientconf.Server{Project: project}, project},
		{clientconf.Server{Project: filepath.Join(project, "gone")}, ""},
		{clientconf.Server{Project: project, Cwd: "/srv/app"}, "/srv/app"},
		{clientconf.Server{}, ""},
	} {
		if got := entryDir(&tc.s); got != tc.want {
			t.Errorf("entryDir(cwd %q, project %q) = %q, want %q", tc.s.Cwd, tc.s.Project, got, tc.want)
		}
	}
}
