package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/policytest"
)

const testUsage = `Usage: tollgate test [-v] [FILE|DIR...]

Runs policy test files and exits 1 if any test fails. A test file names a
policy (relative to the test file) and lists calls with the decision each
must get:

  policy: ../policies/payments.yaml
  tests:
    - name: small refunds go through
      tool: create_refund
      args: {amount: 20}
      expect: allow                 # allow | deny | approval_required
    - name: the daily budget holds
      tool: create_refund
      args: {amount: 10}
      identity: alice               # optional: the caller, for per: identity
      before:                       # optional: calls charged first
        - {tool: create_refund, args: {amount: 500}}
      expect: deny
      rule: daily refund budget     # optional: the deciding rule

Each test starts with empty counters. A directory means every *.test.yaml
and *_test.yaml file in it; no argument means the current directory.

Flags:
`

func runTest(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("tollgate test", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, testUsage)
		fs.PrintDefaults()
	}
	verbose := fs.Bool("v", false, "list passing tests too")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	files, err := testFiles(paths)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate test: %v\n", err)
		return exitUsage
	}
	passed, failed, broken := 0, 0, 0
	for _, file := range files {
		suite, err := policytest.Load(file)
		if err != nil {
			printLoadError(e, file, err)
			broken++
			continue
		}
		results, err := suite.Run(ctx)
		if err != nil {
			printLoadError(e, suite.Policy, err)
			broken++
			continue
		}
		for _, r := range results {
			where := fmt.Sprintf("%s:%d:%d", file, r.Test.Line, r.Test.Col)
			if r.Passed {
				passed++
				if *verbose {
					fmt.Fprintf(e.stdout, "ok    %s  %s\n", where, r.Test.Name)
				}
				continue
			}
			failed++
			fmt.Fprintf(e.stdout, "FAIL  %s  %s\n      %s\n", where, r.Test.Name, r.Msg)
		}
	}
	fmt.Fprintf(e.stdout, "%d passed, %d failed", passed, failed)
	if broken > 0 {
		fmt.Fprintf(e.stdout, ", %d file(s) could not be run", broken)
	}
	fmt.Fprintln(e.stdout)
	if failed > 0 || broken > 0 {
		return exitFail
	}
	return exitOK
}

func printLoadError(e env, file string, err error) {
	var le *policy.LoadError
	if errors.As(err, &le) {
		for _, p := range le.Problems {
			fmt.Fprintf(e.stdout, "ERROR %s\n", p.String())
		}
		return
	}
	fmt.Fprintf(e.stdout, "ERROR %s: %v\n", file, err)
}

// testFiles expands directories into their test files.
func testFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		for _, pat := range []string{"*.test.yaml", "*_test.yaml", "*.test.yml", "*_test.yml"} {
			m, _ := filepath.Glob(filepath.Join(p, pat))
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("no test files (*.test.yaml, *_test.yaml) in %s", p)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
