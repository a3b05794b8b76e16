// Command relay is the benchmark's floor: a process in Tollgate's place that
// only carries messages (see runRelay). It is a binary of its own, built
// from the standard library alone, so that what it costs to start is what a
// Go program costs, not the initialisers of Tollgate's libraries:
// scripts/bench.sh builds it beside benchcmd.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runRelay(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "relay: %v\n", err)
		os.Exit(1)
	}
}
