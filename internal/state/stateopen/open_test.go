package stateopen_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/stateopen"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range []struct {
		spec string
		opts stateopen.Options
		file string // SQLite file expected to exist afterwards
		mem  bool
	}{
		{spec: "", opts: stateopen.Options{StateDir: filepath.Join(dir, "default")}, file: filepath.Join(dir, "default", "state.db")},
		{spec: "memory", mem: true},
		{spec: "sqlite://" + filepath.Join(dir, "abs.db"), file: filepath.Join(dir, "abs.db")},
		{spec: "sqlite://rel/state.db", file: filepath.Join(dir, "rel", "state.db")},
	} {
		s, err := stateopen.Open(ctx, tc.spec, tc.opts)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.spec, err)
			continue
		}
		switch s.(type) {
		case *memstore.Store:
			if !tc.mem {
				t.Errorf("Open(%q) is a memstore", tc.spec)
			}
		case *sqlitestore.Store:
			if _, err := os.Stat(tc.file); err != nil {
				t.Errorf("Open(%q): %v", tc.spec, err)
			}
		default:
			t.Errorf("Open(%q) = %T", tc.spec, s)
		}
		s.Close()
	}
}

func TestOpenRejects(t *testing.T) {
	for _, spec := range []string{"bolt:///x", "sqlite://", "sqlite://x.db?mode=ro", "postgres://u:secret@h/db", "mem"} {
		_, err := stateopen.Open(context.Background(), spec, stateopen.Options{})
		if err == nil {
			t.Errorf("Open(%q) succeeded", spec)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error leaks the password: %v", spec, err)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_STATE_HOME", xdg)
	got, err := state.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(xdg, "tollgate"); got != want {
		t.Errorf("DefaultDir() = %q, want %q", got, want)
	}
	if fi, err := os.Stat(got); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir: %v, %v; want mode 0700", fi, err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "relative/ignored")
	got, err = state.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, ".local", "state", "tollgate"); got != want {
		t.Errorf("DefaultDir() with relative XDG_STATE_HOME = %q, want %q", got, want)
	}
}
