package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"

	"github.com/tollgate-mcp/tollgate/internal/audit"
)

const auditUsage = `Usage: tollgate audit verify [FILE|DIR...]

Checks the hash chain of audit files: every line must be unchanged, in
order, and follow the line before it, across rotated files and restarts.
Prints "ok: N lines" for each intact chain, or the first line that was
changed, removed or reordered, and exits 1. With no argument it checks the
audit directory that tollgate run writes by default (see --audit-dir).

Flags:
`

func runAudit(ctx context.Context, e env, args []string) int {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help") {
			fmt.Fprint(e.stdout, auditUsage)
			return exitOK
		}
		fmt.Fprint(e.stderr, "tollgate audit: expected a subcommand: verify\n\n"+auditUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("tollgate audit verify", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, auditUsage)
		fs.PrintDefaults()
	}
	var dirs auditDirFlags
	dirs.register(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	paths := fs.Args()
	if len(paths) == 0 {
		dir, err := dirs.dir()
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate audit verify: %v\n", err)
			return exitUsage
		}
		paths = []string{dir}
	}
	reports, err := audit.Verify(paths)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate audit verify: %v\n", err)
		return exitFail
	}
	code := exitOK
	for _, r := range reports {
		if r.Problem != nil {
			fmt.Fprintf(e.stdout, "%s\n", r.Problem.Error())
			fmt.Fprintf(e.stdout, "FAILED: %s: %d line(s) verified before the problem\n", r.Name, r.Lines)
			code = exitFail
			continue
		}
		end := "the last line is not a stop line: the writer is running or did not stop cleanly"
		if r.Stopped {
			end = "ended with a clean stop"
		}
		start := ""
		if r.FirstSeq > 1 {
			start = fmt.Sprintf(", continuing a chain from earlier files at seq %d", r.FirstSeq)
		}
		fmt.Fprintf(e.stdout, "ok: %d lines (%s: %d file(s)%s; %s)\n", r.Lines, filepath.Base(r.Name), len(r.Files), start, end)
	}
	return code
}

// auditDirFlags locate the audit directory for commands that read it.
type auditDirFlags struct {
	audit    string
	stateDir string
}

func (f *auditDirFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.audit, "audit-dir", "", "the audit directory (default <state-dir>/audit)")
	fs.StringVar(&f.stateDir, "state-dir", "", "Tollgate's state directory (default $XDG_STATE_HOME/tollgate or ~/.local/state/tollgate)")
}

func (f *auditDirFlags) dir() (string, error) {
	if f.audit == "off" {
		return "", errors.New("--audit-dir off: there is no audit directory to read")
	}
	return auditDir(&opsFlags{audit: f.audit}, f.stateDir)
}
