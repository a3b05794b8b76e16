package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRelayArgv: -relay none runs no relay (it is not a binary called
// "none"); an empty -relay takes the relay beside benchcmd, or none, said
// on the log, when there is none.
func TestRelayArgv(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "benchcmd")
	var log strings.Builder
	if got := relayArgv("none", self, &log); got != nil {
		t.Errorf("-relay none: %q, want no relay", got)
	}
	if got := relayArgv("/opt/relay", self, &log); !slices.Equal(got, []string{"/opt/relay"}) {
		t.Errorf("-relay /opt/relay: %q", got)
	}
	if log.Len() != 0 {
		t.Errorf("logged %q for a relay that was chosen", log.String())
	}
	if got := relayArgv("", self, &log); got != nil || !strings.Contains(log.String(), "no relay binary beside benchcmd") {
		t.Errorf("no relay beside benchcmd: %q, log %q", got, log.String())
	}
	beside := filepath.Join(dir, "relay")
	if err := os.WriteFile(beside, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := relayArgv("", self, &log); !slices.Equal(got, []string{beside}) {
		t.Errorf("relay beside benchcmd: %q, want %q", got, beside)
	}
}
