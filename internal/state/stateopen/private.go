// Package stateopen holds PrivateFile, how a Tollgate state file is created
// before SQLite opens it. Specs are opened by package backend.
package stateopen

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// PrivateFile makes sure the SQLite file at path exists with mode 0600
// (its directory 0700 when created) before SQLite opens it: SQLite creates
// a database 0644, and its -wal and -shm files take the database's mode.
// Counters and approvals are nobody else's business. A file an older
// version left readable by others is tightened, with its -wal and -shm.
func PrivateFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create state file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create state file: %w", err)
	}
	defer f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create state file: %w", err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, st.Mode().Perm()&0o700); err != nil {
				return fmt.Errorf("create state file: make %s private: %w", p, err)
			}
		}
	}
	return nil
}
