package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// checkPrivate fails for any file under dir that others could read (not
// 0600) and any directory that is not 0700, and returns how many files it
// saw.
func checkPrivate(t *testing.T, dir string) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", rel, got, want)
		}
		seen[filepath.Base(path)] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return seen
}

// Everything Tollgate creates under its state directory is its user's
// only: the SQLite file and its -wal and -shm, the admin token, the audit
// trail and its locks (0600), and the directories (0700).
func TestStateFilesArePrivate(t *testing.T) {
	pol := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, pol, "version: \"1\"\ndefault: allow\ntools:\n  t:\n    rules:\n      - name: cap\n        rate_limit: \"5/minute\"\n")
	server := []string{"--", "sh", "-c", "cat >/dev/null"}

	t.Run("run", func(t *testing.T) {
		home := t.TempDir()
		env := []string{"XDG_STATE_HOME=" + home}
		out := tollgateOut(t, env, "", append([]string{"run", "-c", pol, "--admin-addr", "127.0.0.1:0"}, server...)...)
		seen := checkPrivate(t, filepath.Join(home, "tollgate"))
		for _, want := range []string{"state.db", "admin.token", "audit"} {
			if !seen[want] {
				t.Errorf("no %s under the state directory; tollgate said:\n%s", want, out)
			}
		}
	})
	t.Run("approvals first", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		tollgateOut(t, nil, "", "approvals", "list", "--state-dir", dir)
		if !checkPrivate(t, dir)["state.db"] {
			t.Error("approvals list created no state.db")
		}
	})
	t.Run("sqlite spec", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "custom")
		tollgateOut(t, nil, "", append([]string{"run", "-c", pol, "--audit", "off", "--state", "sqlite://" + filepath.Join(dir, "c.db")}, server...)...)
		if !checkPrivate(t, dir)["c.db"] {
			t.Error("no c.db")
		}
	})
	t.Run("left readable by an older version", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "old")
		db := filepath.Join(dir, "old.db")
		tollgateOut(t, nil, "", append([]string{"run", "-c", pol, "--audit", "off", "--state", "sqlite://" + db}, server...)...)
		for _, p := range []string{db, db + "-wal"} {
			if err := os.WriteFile(p, nil, 0o644); err != nil && !os.IsExist(err) {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		tollgateOut(t, nil, "", append([]string{"run", "-c", pol, "--audit", "off", "--state", "sqlite://" + db}, server...)...)
		checkPrivate(t, dir)
	})
}
