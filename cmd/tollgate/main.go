// Command tollgate is a policy firewall for the Model Context Protocol.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/tollgate-mcp/tollgate/internal/cli"
)

func main() {
	cli.MaxProcs = runtime.GOMAXPROCS
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
