package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/tollgate-mcp/tollgate/internal/auth"
)

const keysUsage = `Usage: tollgate keys add NAME --file keys.yaml
       tollgate keys list --file keys.yaml

Manages the API keys HTTP clients present to 'tollgate run --listen ADDR
--api-keys keys.yaml' as "Authorization: Bearer KEY". The file stores each
key's name and SHA-256 hash, never the key: 'add' prints the new key once,
so copy it then. The name is the caller's identity (per: identity limits,
the audit trail). The file is written with mode 0600.

Flags:
`

// runKeys runs tollgate keys.
func runKeys(_ context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("tollgate keys", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, keysUsage)
		fs.PrintDefaults()
	}
	file := fs.String("file", "", "the API key file (required)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) == 0 {
		fs.Usage()
		return exitUsage
	}
	if *file == "" {
		fmt.Fprintln(e.stderr, "tollgate keys: --file is required")
		return exitUsage
	}
	switch pos[0] {
	case "add":
		if len(pos) != 2 {
			fmt.Fprintln(e.stderr, "tollgate keys add: give exactly one NAME")
			return exitUsage
		}
		key, err := auth.AddKey(*file, pos[1])
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate keys: %v\n", err)
			return exitFail
		}
		fmt.Fprintln(e.stdout, key)
		fmt.Fprintf(e.stderr, "tollgate keys: added %q to %s; the key above is shown only now\n", pos[1], *file)
		return exitOK
	case "list":
		if len(pos) != 1 {
			fmt.Fprintln(e.stderr, "tollgate keys list: takes no arguments")
			return exitUsage
		}
		names, err := auth.KeyNames(*file)
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate keys: %v\n", err)
			return exitFail
		}
		for _, n := range names {
			fmt.Fprintln(e.stdout, n)
		}
		return exitOK
	default:
		fmt.Fprintf(e.stderr, "tollgate keys: unknown subcommand %q (want add or list)\n", pos[0])
		return exitUsage
	}
}

// parseInterleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
