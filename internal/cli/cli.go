// Package cli is Tollgate's command line: one file per subcommand, flag
// parsing and wiring. It is the only package that picks concrete transports,
// stores and sinks.
package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// Version is the release version, set at build time with
// -ldflags "-X github.com/tollgate-mcp/tollgate/internal/cli.Version=v1.2.3".
var Version = "v0.1.0-dev"

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and found a problem (invalid policy, failed test)
	exitUsage = 2 // bad flags or arguments
)

// env carries the process streams into a subcommand.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

const usage = `Tollgate is a policy firewall for the Model Context Protocol.

Usage:
  tollgate run -c policy.yaml -- COMMAND [ARGS...]   proxy a stdio MCP server under a policy
  tollgate -c policy.yaml -- COMMAND [ARGS...]       the same (Intercept's form)
  tollgate gateway -c gateway.yaml                   serve many MCP servers as one, each under its policy
  tollgate init [--dry-run] [--yes] [--undo]         guard the MCP servers your clients already run
  tollgate validate -c policy.yaml                   check a policy file
  tollgate scan -- COMMAND [ARGS...]                 list and classify a server's tools
  tollgate demo                                      watch Tollgate guard a demo server
  tollgate approvals list|show|approve|deny|keygen  review held calls (approving needs an approver key)
  tollgate pins list|diff|approve|reject             review changed tool definitions (rug pulls)
  tollgate test [FILES...]                           run policy test files (for CI)
  tollgate explain -c policy.yaml --tool NAME        show how the policy decides one call
  tollgate audit verify [FILES...]                   check the audit trail's hash chain
  tollgate status                                    instances, calls and denials from the audit trail
  tollgate console [-c policy.yaml]                  a local web console: live decisions, approvals, rules
  tollgate keys add NAME --file keys.yaml           make an API key for HTTP clients (run --api-keys)
  tollgate version                                   print the version

Run 'tollgate COMMAND --help' for a command's flags.
`

// Main runs the tollgate command line with args (without the program name)
// and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	// Intercept's form: flags straight after the program name mean "run".
	if strings.HasPrefix(cmd, "-") && cmd != "-h" && cmd != "--help" && cmd != "-help" {
		return runRun(ctx, e, args)
	}
	switch cmd {
	case "run":
		return runRun(ctx, e, rest)
	case "gateway":
		return runGateway(ctx, e, rest)
	case "init":
		return runInit(ctx, e, rest)
	case "validate":
		return runValidate(ctx, e, rest)
	case "scan":
		return runScan(ctx, e, rest)
	case "demo":
		return runDemo(ctx, e, rest)
	case "approvals":
		return runApprovals(ctx, e, rest)
	case "pins":
		return runPins(ctx, e, rest)
	case "test":
		return runTest(ctx, e, rest)
	case "explain":
		return runExplain(ctx, e, rest)
	case "audit":
		return runAudit(ctx, e, rest)
	case "status":
		return runStatus(ctx, e, rest)
	case "console":
		return runConsole(ctx, e, rest)
	case "keys":
		return runKeys(ctx, e, rest)
	case "version":
		fmt.Fprintf(stdout, "tollgate %s\n", Version)
		return exitOK
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "tollgate: unknown command %q\n\n%s", cmd, usage)
		return exitUsage
	}
}
