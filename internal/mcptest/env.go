package mcptest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Environment variables read by this package; scripts/test.sh sets them.
const (
	EnvPeersDir     = "TOLLGATE_PEERS_DIR"
	EnvNodeModules  = "TOLLGATE_NODE_MODULES"
	EnvNode22       = "TOLLGATE_NODE22"
	EnvRedisURL     = "TOLLGATE_TEST_REDIS_URL"
	EnvRequirePeers = "TOLLGATE_REQUIRE_PEERS"
)

// modulePath is how repoRoot recognises the repository's go.mod.
const modulePath = "github.com/tollgate-mcp/tollgate"

// RequirePeers reports whether a missing peer must fail the test rather than
// skip it (TOLLGATE_REQUIRE_PEERS=1, set by scripts/test.sh for CI).
func RequirePeers() bool {
	return os.Getenv(EnvRequirePeers) == "1"
}

// MissingPeer skips the test because a peer it needs is not installed, or
// fails it under TOLLGATE_REQUIRE_PEERS=1, so that CI never passes a test
// that did not run. It is for tests that start a peer themselves rather
// than through this package's helpers.
func MissingPeer(tb testing.TB, format string, args ...any) {
	tb.Helper()
	missing(tb, format, args...)
}

// missing skips the test because a peer is not installed, or fails it when
// peers are required.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if RequirePeers() {
		tb.Fatalf("%s (%s=1)", msg, EnvRequirePeers)
	}
	tb.Skip(msg)
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// repoRoot returns the directory of Tollgate's go.mod, found by walking up
// from the working directory (go test runs each package in its own directory).
func repoRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = fmt.Errorf("find repository root: %w", err)
			return
		}
		for {
			data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && isTollgateMod(data) {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("find repository root: no go.mod for " + modulePath + " above the working directory")
				return
			}
			dir = parent
		}
	})
	return rootDir, rootErr
}

func isTollgateMod(data []byte) bool {
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return f[1] == modulePath
		}
	}
	return false
}

var (
	workOnce sync.Once
	workDir  string
	workErr  error
)

// processDir returns a directory private to this test process, for binaries
// built on demand. It outlives individual tests (the binaries are shared
// through sync.Once), so t.TempDir does not fit; instead each process removes
// the directories left by processes that are no longer running.
func processDir() (string, error) {
	workOnce.Do(func() {
		base := filepath.Join(os.TempDir(), "tollgate-mcptest")
		if err := os.MkdirAll(base, 0o755); err != nil {
			workErr = fmt.Errorf("create build directory: %w", err)
			return
		}
		sweepDeadProcessDirs(base)
		workDir, workErr = os.MkdirTemp(base, "pid"+strconv.Itoa(os.Getpid())+"-")
		if workErr != nil {
			workErr = fmt.Errorf("create build directory: %w", workErr)
		}
	})
	return workDir, workErr
}

// sweepDeadProcessDirs removes base/pid<N>-* for every N that is no longer a
// running process. A reused pid only delays the removal until a later run.
func sweepDeadProcessDirs(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "pid")
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(base, e.Name()))
	}
}

func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	// EPERM means the process exists but belongs to someone else.
	return err == nil || errors.Is(err, syscall.EPERM)
}
