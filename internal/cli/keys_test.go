package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/auth"
)

func TestKeysCommand(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.yaml")
	code, stdout, stderr := run(t, "keys", "add", "alice", "--file", file)
	if code != exitOK {
		t.Fatalf("keys add: exit %d: %s", code, stderr)
	}
	key := strings.TrimSpace(stdout)
	if !strings.HasPrefix(key, auth.KeyPrefix) || len(key) < 40 {
		t.Fatalf("printed key %q", key)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(file)
	if strings.Contains(string(data), key) || !strings.Contains(string(data), auth.HashKey(key)) {
		t.Fatalf("the file must hold the key's hash, not the key:\n%s", data)
	}
	keys, err := auth.LoadKeys(file)
	if err != nil {
		t.Fatal(err)
	}
	if id, err := keys.Verify(t.Context(), key); err != nil || id != "alice" {
		t.Fatalf("Verify(new key) = %q, %v", id, err)
	}

	if code, _, _ := run(t, "keys", "add", "alice", "--file", file); code != exitFail {
		t.Errorf("adding alice twice: exit %d, want %d", code, exitFail)
	}
	if code, _, stderr := run(t, "keys", "--file", file, "add", "bob"); code != exitOK {
		t.Fatalf("keys add bob (flag first): exit %d: %s", code, stderr)
	}
	if code, stdout, _ := run(t, "keys", "list", "--file", file); code != exitOK || stdout != "alice\nbob\n" {
		t.Fatalf("keys list: exit %d %q", code, stdout)
	}
	for _, args := range [][]string{{"keys"}, {"keys", "add", "x"}, {"keys", "add", "--file", file}, {"keys", "rotate", "x", "--file", file}, {"keys", "add", "bad name", "--file", file}} {
		if code, _, _ := run(t, args...); code == exitOK {
			t.Errorf("%q: exit 0, want a failure", args)
		}
	}
}
