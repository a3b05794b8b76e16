package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

const validateUsage = `Usage: tollgate validate -c policy.yaml

Checks a policy file: prints every problem as file:line:col with a
suggestion for misspelt keys and exits 1, or prints "policy is valid".

Flags:
`

func runValidate(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("tollgate validate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, validateUsage)
		fs.PrintDefaults()
	}
	var config string
	fs.StringVar(&config, "c", "", "policy file")
	fs.StringVar(&config, "config", "", "policy file (same as -c)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	files := fs.Args()
	if config != "" {
		files = append([]string{config}, files...)
	}
	if len(files) == 0 {
		fmt.Fprintln(e.stderr, "tollgate validate: no policy file given (-c policy.yaml)")
		return exitUsage
	}
	code := exitOK
	for _, file := range files {
		if _, err := policy.LoadFile(file); err != nil {
			var le *policy.LoadError
			if errors.As(err, &le) {
				for _, p := range le.Problems {
					fmt.Fprintln(e.stdout, p.String())
				}
				fmt.Fprintf(e.stdout, "%s: %d problem(s)\n", file, len(le.Problems))
			} else {
				fmt.Fprintf(e.stdout, "%s: %v\n", file, err)
			}
			code = exitFail
			continue
		}
		if len(files) > 1 {
			fmt.Fprintf(e.stdout, "%s: policy is valid\n", file)
		} else {
			fmt.Fprintln(e.stdout, "policy is valid")
		}
	}
	return code
}
