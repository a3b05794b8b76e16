package state

import (
	"fmt"
	"os"
	"path/filepath"
)

// DefaultDir returns Tollgate's state directory, creating it (mode 0700) if
// needed: $XDG_STATE_HOME/tollgate when XDG_STATE_HOME is an absolute path
// (the XDG spec says to ignore a relative one), else ~/.local/state/tollgate.
func DefaultDir() (string, error) {
	base := os.Getenv("XDG_STATE_HOME")
	if !filepath.IsAbs(base) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("state directory: %w", err)
		}
		base = filepath.Join(home, ".local", "state")
	}
	dir := filepath.Join(base, "tollgate")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	return dir, nil
}
