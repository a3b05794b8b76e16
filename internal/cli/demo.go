package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/tollgate-mcp/tollgate/internal/demo"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/transport"
	"github.com/tollgate-mcp/tollgate/internal/transport/stdio"
)

const demoUsage = `Usage: tollgate demo [--policy]

Starts a built-in demo MCP server behind Tollgate with a bundled policy,
plays a short scripted agent session against it, and prints what happened
to each call. Nothing leaves this process; nothing is written to disk.

Flags:
`

func runDemo(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("tollgate demo", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, demoUsage)
		fs.PrintDefaults()
	}
	showPolicy := fs.Bool("policy", false, "print the demo policy and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *showPolicy {
		e.stdout.Write(demo.Policy)
		return exitOK
	}
	rows, err := playDemo(ctx)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate demo: %v\n", err)
		return exitFail
	}
	printDemo(e.stdout, rows)
	return exitOK
}

// playDemo wires agent ↔ pump ↔ demo server with pipes, exactly as
// `tollgate run` wires stdin/stdout ↔ pump ↔ child.
func playDemo(ctx context.Context) ([]demo.Row, error) {
	pol, err := policy.Load("demo-policy.yaml", demo.Policy)
	if err != nil {
		return nil, fmt.Errorf("load the demo policy: %w", err)
	}
	store := memstore.New()
	defer store.Close()
	g := gate.New(pol)
	g.Store = store

	agentOut, pumpIn := io.Pipe()   // agent writes requests
	pumpOut, agentIn := io.Pipe()   // agent reads answers
	serverIn, toServer := io.Pipe() // pump writes to the server
	fromServer, serverOut := io.Pipe()
	go func() {
		_ = demo.Serve(serverIn, serverOut)
		serverOut.Close()
	}()
	done := make(chan error, 1)
	go func() {
		done <- proxy.NewHandler(g, nil).Serve(ctx, &transport.Session{ID: newSessionID()},
			stdio.NewConn(agentOut, agentIn, 0), stdio.NewConn(fromServer, toServer, 0))
	}()
	rows, err := demo.Play(pumpIn, pumpOut)
	pumpIn.Close()
	<-done
	return rows, err
}

func printDemo(w io.Writer, rows []demo.Row) {
	fmt.Fprintln(w, "Tollgate demo: an agent session against a demo MCP server, under the policy")
	fmt.Fprintln(w, "shown by `tollgate demo --policy`. Every call below went through the real proxy.")
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTHE AGENT TRIES\tTOOL\tDECISION\tWHAT HAPPENED")
	for i, r := range rows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i+1, r.What, r.Tool, r.Outcome, r.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Denied calls never reached the server. The agent saw each denial as a tool")
	fmt.Fprintln(w, "result with isError and a machine-readable _meta[\"dev.tollgate/decision\"].")
	fmt.Fprintln(w, "Wrap your own server: tollgate run -c policy.yaml -- <server command>")
}
