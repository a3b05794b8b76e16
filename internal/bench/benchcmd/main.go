// Command benchcmd is Tollgate's benchmark tool, kept out of the tollgate
// binary (`go run ./internal/bench/benchcmd`, or scripts/bench.sh):
//
//	benchcmd echo [-tools FILE] [-http ADDR] [-log FILE]   the echo MCP server
//	benchcmd run [flags]                                   the benchmark harness
//	benchcmd proxy [flags] -- CMD...                       an in-process proxy, for profiles
//
// The bare relay the benchmark measures as its floor is a binary of its own,
// internal/bench/relaycmd.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage:
  benchcmd echo [-tools FILE] [-http ADDR] [-log FILE]   run the echo MCP server (stdio, or HTTP on ADDR)
  benchcmd run [flags]                                   run the benchmarks (see benchcmd run -h)
  benchcmd proxy -c POLICY [flags] -- CMD [ARGS...]      Tollgate's stdio proxy in-process, with a CPU profile
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "echo":
		err = runEcho(ctx, args[1:])
	case "run":
		err = runBench(ctx, args[1:])
	case "proxy":
		err = runProxy(ctx, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "benchcmd: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchcmd %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
