package mcptest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// goSDK is the module whose conformance peers the tests run. Its version is
// the one go.mod requires, so the peers move with the SDK we build against.
const goSDK = "github.com/modelcontextprotocol/go-sdk"

// peerPackages maps Peer's names to the packages that build them.
var peerPackages = map[string]string{
	"everything-server": goSDK + "/conformance/everything-server",
	"everything-client": goSDK + "/conformance/everything-client",
}

// buildTimeout bounds one on-demand go build; a cold module cache and a busy
// two-core machine make a first build slow.
const buildTimeout = 5 * time.Minute

// built memoises the on-demand builds of this test process, by binary name.
var built sync.Map // string -> *buildResult

type buildResult struct {
	once sync.Once
	path string
	err  error
}

// buildOnce runs build at most once per test process for name and returns
// the path of the binary it produced.
func buildOnce(name string, build func(dir string) (string, error)) (string, error) {
	v, _ := built.LoadOrStore(name, &buildResult{})
	r := v.(*buildResult)
	r.once.Do(func() {
		dir, err := processDir()
		if err != nil {
			r.err = err
			return
		}
		r.path, r.err = build(dir)
	})
	return r.path, r.err
}

// Peer returns the path of one of the Go SDK's conformance binaries:
// "everything-server" or "everything-client". It takes the binary from
// TOLLGATE_PEERS_DIR when it is there (scripts/test.sh builds them into
// .tools/bin); otherwise it builds it once per test process, at the SDK
// version go.mod requires, so plain `go test` works. An unknown name or a
// failed build fails the test; a missing `go` command skips it unless
// TOLLGATE_REQUIRE_PEERS=1.
func Peer(tb testing.TB, name string) string {
	tb.Helper()
	pkg, ok := peerPackages[name]
	if !ok {
		tb.Fatalf("mcptest.Peer: unknown peer %q (want everything-server or everything-client)", name)
	}
	if dir := os.Getenv(EnvPeersDir); dir != "" {
		path := filepath.Join(dir, name)
		if isExecutable(path) {
			return path
		}
		tb.Logf("%s not in %s=%s; building it", name, EnvPeersDir, dir)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		missing(tb, "%s not built and no go command to build it: run scripts/test.sh", name)
	}
	path, err := buildOnce(name, func(dir string) (string, error) {
		return installPeer(goCmd, pkg, dir)
	})
	if err != nil {
		tb.Fatalf("build %s: %v", name, err)
	}
	return path
}

// installPeer builds pkg at the version of goSDK that go.mod requires, with
// `go install pkg@version`: that builds against the SDK's own go.mod, so it
// needs no go.sum entries of ours for the SDK's dependencies.
func installPeer(goCmd, pkg, dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	list := exec.CommandContext(ctx, goCmd, "list", "-m", "-f", "{{.Version}}", goSDK)
	list.Dir = root
	out, err := list.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w\n%s", goSDK, err, out)
	}
	version := strings.TrimSpace(string(out))
	install := exec.CommandContext(ctx, goCmd, "install", pkg+"@"+version)
	install.Dir = dir
	install.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := install.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", pkg, version, err, out)
	}
	return filepath.Join(dir, filepath.Base(pkg)), nil
}

// EverythingServerHTTP starts the Go SDK's conformance everything-server on a
// free 127.0.0.1 port, serving streamable HTTP, and returns its endpoint URL
// (http://127.0.0.1:PORT/mcp). stateful=false runs it in stateless mode (no
// session id; server-to-client requests such as sampling and elicitation then
// fail, see docs/testing.md). The server stops when the test ends. Skips and
// failures are those of Peer.
func EverythingServerHTTP(tb testing.TB, stateful bool) string {
	tb.Helper()
	bin := Peer(tb, "everything-server")
	addr := hostPort(FreePort(tb))
	p := startProcess(tb, "everything-server", []string{bin, "-http", addr, "-stateless=" + strconv.FormatBool(!stateful)}, nil)
	p.waitReady(tb, dialReady(addr))
	return "http://" + addr + "/mcp"
}

// Tollgate builds ./cmd/tollgate once per test process (a plain build, not
// race-enabled) and returns the binary's path. A build failure always fails
// the test: the command is part of this repository, not an optional peer.
//
// It also points XDG_STATE_HOME at a directory of the test process's own
// (see privateStateHome), so that a tollgate a test starts without
// --state-dir or --audit never writes its audit trail, counters or pins
// into the state directory of the user running the tests.
func Tollgate(tb testing.TB) string {
	tb.Helper()
	if err := privateStateHome(); err != nil {
		tb.Fatalf("%v", err)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		tb.Fatalf("build tollgate: %v", err)
	}
	path, err := buildOnce("tollgate", func(dir string) (string, error) {
		root, err := repoRoot()
		if err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		out := filepath.Join(dir, "tollgate")
		cmd := exec.CommandContext(ctx, goCmd, "build", "-o", out, "./cmd/tollgate")
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/tollgate: %w\n%s", err, b)
		}
		return out, nil
	})
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return path
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

var (
	stateHomeOnce sync.Once
	stateHomeErr  error
)

// privateStateHome sets XDG_STATE_HOME, once, to a directory inside
// processDir: the processes this test process starts inherit it, and the
// directory goes with the others a dead test process leaves.
func privateStateHome() error {
	stateHomeOnce.Do(func() {
		dir, err := processDir()
		if err == nil {
			dir = filepath.Join(dir, "state-home")
			err = os.MkdirAll(dir, 0o700)
		}
		if err == nil {
			err = os.Setenv("XDG_STATE_HOME", dir)
		}
		if err != nil {
			stateHomeErr = fmt.Errorf("a state directory for the tests' tollgate processes: %w", err)
		}
	})
	return stateHomeErr
}
