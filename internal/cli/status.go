package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/audit"
)

const statusUsage = `Usage: tollgate status [--since 1h] [--json] [flags]

Summarises the audit trail: the Tollgate instances that wrote it (running
or stopped), their calls per minute, denials by rule, the most recent
denials, policy reloads, the servers behind a tollgate gateway (up or
down), and problems (lost or dropped audit lines, a full
disk, rejected reloads).

Flags:
`

// statusReport is what tollgate status prints (and --json encodes): the
// audit package summarises, this file prints.
type statusReport = audit.Summary

// ruleCount is one line of DENIALS BY RULE.
type ruleCount = audit.RuleCount

func runStatus(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("tollgate status", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, statusUsage)
		fs.PrintDefaults()
	}
	var dirs auditDirFlags
	dirs.register(fs)
	since := fs.Duration("since", time.Hour, "how far back to look")
	asJSON := fs.Bool("json", false, "print JSON instead of tables")
	recent := fs.Int("recent", 10, "how many recent denials to list")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 || *since <= 0 {
		fmt.Fprintln(e.stderr, "tollgate status: unexpected arguments; see tollgate status --help")
		return exitUsage
	}
	dir, err := dirs.dir()
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate status: %v\n", err)
		return exitUsage
	}
	if _, err := os.Stat(dir); err != nil {
		fmt.Fprintf(e.stderr, "tollgate status: read the audit trail: %v (is --audit-dir right?)\n", err)
		return exitFail
	}
	rep, err := audit.Summarize(dir, time.Now(), *since, *recent)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate status: %v\n", err)
		return exitFail
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return exitFail
		}
		return exitOK
	}
	printStatus(e.stdout, rep)
	return exitOK
}

func printStatus(w io.Writer, rep *statusReport) {
	fmt.Fprintf(w, "Audit trail: %s", rep.Dir)
	if rep.FreeBytes != nil {
		fmt.Fprintf(w, " (%s free)", audit.HumanBytes(*rep.FreeBytes))
	}
	fmt.Fprintf(w, "\nWindow:      since %s (%s)\n", rep.Since.Format(time.DateTime+" MST"), rep.Now.Sub(rep.Since).Round(time.Second))

	fmt.Fprintln(w, "\nINSTANCES")
	if len(rep.Instances) == 0 {
		fmt.Fprintln(w, "  none in this window")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  INSTANCE\tSTATE\tSTARTED\tLAST SEEN\tPOLICY\tMODE\tCALLS\tCALLS/MIN\tDENIED\tAPPROVAL\tWOULD-DENY\tHIDDEN\tINVALID")
		for _, in := range rep.Instances {
			st := "stopped"
			if in.Running {
				st = "running"
			} else if in.Stopped.IsZero() {
				st = "ended"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\t%.1f\t%d\t%d\t%d\t%d\t%d\n", in.Instance, st, fmtTime(in.Started), fmtTime(in.LastSeen),
				dash(in.Policy), dash(in.Mode), in.Calls, in.CallsPerMin, in.Denied, in.Approvals, in.Monitored, in.Hidden, in.Invalid)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nDENIALS BY RULE")
	if len(rep.DenialsByRule) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  RULE\tDENIED\tWOULD-DENY (monitor)")
		for _, rc := range rep.DenialsByRule {
			fmt.Fprintf(tw, "  %s\t%d\t%d\n", rc.Rule, rc.Denied, rc.WouldDeny)
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nRECENT DENIALS")
	if len(rep.RecentDenials) == 0 {
		fmt.Fprintln(w, "  none")
	} else {
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  TIME\tINSTANCE\tIDENTITY\tTOOL\tDECISION\tRULE\tREASON")
		for _, d := range rep.RecentDenials {
			dec := d.Decision
			if d.Monitor {
				dec = "would " + dec
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtTime(d.Time), d.Instance, dash(d.Identity), d.Tool, dec, dash(d.Rule), truncate(d.Reason, 60))
		}
		tw.Flush()
	}

	if len(rep.Reloads) > 0 {
		fmt.Fprintln(w, "\nRELOADS")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, r := range rep.Reloads {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", fmtTime(r.Time), r.Instance, r.Result, r.File)
		}
		tw.Flush()
	}

	if len(rep.Servers) > 0 {
		fmt.Fprintln(w, "\nSERVERS (tollgate gateway)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  INSTANCE\tSERVER\tSTATE\tSINCE\tDOWNS\tLAST ERROR")
		for _, se := range rep.Servers {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\n", se.Instance, se.Server, se.State, fmtTime(se.Since), se.Downs, truncate(dash(se.LastError), 60))
		}
		tw.Flush()
	}

	fmt.Fprintln(w, "\nPROBLEMS")
	if len(rep.Problems) == 0 {
		fmt.Fprintln(w, "  none")
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  ! %s\n", p)
	}
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
