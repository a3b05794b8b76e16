package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/audit"
)

const statusUsage = `Usage: tollgate status [--since 1h] [--json] [flags]

Summarises the audit trail: the Tollgate instances that wrote it (running
or stopped), their calls per minute, denials by rule, the most recent
denials, policy reloads, and problems (lost or dropped audit lines, a full
disk, rejected reloads).

Flags:
`

// statusReport is what tollgate status prints (and --json encodes).
type statusReport struct {
	Dir           string            `json:"audit_dir"`
	Now           time.Time         `json:"now"`
	Since         time.Time         `json:"since"`
	FreeBytes     *uint64           `json:"free_bytes,omitempty"`
	Instances     []*statusInstance `json:"instances"`
	DenialsByRule []ruleCount       `json:"denials_by_rule"`
	RecentDenials []statusDenial    `json:"recent_denials"`
	Reloads       []statusReload    `json:"reloads"`
	Problems      []string          `json:"problems"`
	BadLines      int               `json:"unreadable_lines,omitempty"`
}

type statusInstance struct {
	Instance      string    `json:"instance"`
	Chain         int       `json:"chain"`
	Running       bool      `json:"running"`
	Started       time.Time `json:"started,omitzero"`
	Stopped       time.Time `json:"stopped,omitzero"`
	LastSeen      time.Time `json:"last_seen"`
	Policy        string    `json:"policy_file,omitempty"`
	Mode          string    `json:"mode,omitempty"`
	Calls         int       `json:"calls"`
	Denied        int       `json:"denied"`
	Approvals     int       `json:"approval_required"`
	Monitored     int       `json:"would_deny"`
	Hidden        int       `json:"hidden"`
	Invalid       int       `json:"invalid"`
	CallsPerMin   float64   `json:"calls_per_minute"`
	Dropped       int64     `json:"audit_lines_dropped"`
	Lost          int64     `json:"audit_lines_lost"`
	LastLostError string    `json:"last_lost_error,omitempty"`
}

type ruleCount struct {
	Rule      string `json:"rule"`
	Denied    int    `json:"denied"`
	WouldDeny int    `json:"would_deny"`
}

type statusDenial struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	Identity string    `json:"identity,omitempty"`
	Tool     string    `json:"tool"`
	Decision string    `json:"decision"`
	Monitor  bool      `json:"monitor,omitempty"`
	Rule     string    `json:"rule,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

type statusReload struct {
	Time     time.Time `json:"time"`
	Instance string    `json:"instance"`
	File     string    `json:"file"`
	Result   string    `json:"result"`
	Errors   []string  `json:"errors,omitempty"`
}

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
	rep, err := buildStatus(dir, time.Now(), *since, *recent)
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

// lowDisk is the free space below which status reports the disk as full.
const lowDisk = 16 << 20

func buildStatus(dir string, now time.Time, window time.Duration, recent int) (*statusReport, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("read the audit trail: %w (is --audit-dir right?)", err)
	}
	rep := &statusReport{Dir: dir, Now: now.UTC(), Since: now.Add(-window).UTC(),
		Instances: []*statusInstance{}, DenialsByRule: []ruleCount{}, RecentDenials: []statusDenial{},
		Reloads: []statusReload{}, Problems: []string{}}
	byInst := map[string]*statusInstance{}
	rules := map[string]*ruleCount{}
	lastByChain := map[int]*statusInstance{}
	bad, err := audit.Scan(dir, rep.Since, func(f audit.ChainFile, r *audit.Record) {
		in := byInst[r.Instance]
		if in == nil {
			in = &statusInstance{Instance: r.Instance, Chain: f.Chain}
			byInst[r.Instance] = in
		}
		if r.Time.After(in.LastSeen) {
			in.LastSeen = r.Time
		}
		if prev := lastByChain[f.Chain]; prev == nil || !r.Time.Before(prev.LastSeen) {
			lastByChain[f.Chain] = in
		}
		switch r.Event {
		case audit.KindStart:
			in.Started = r.Time
			if r.Start != nil {
				in.Policy, in.Mode = r.Start.Policy, r.Start.Mode
			}
		case audit.KindStop:
			in.Stopped = r.Time
		case audit.KindDropped:
			in.Dropped += r.Count
		case audit.KindLost:
			in.Lost += r.Count
			in.LastLostError = r.Error
		case audit.KindReload:
			if !r.Time.Before(rep.Since) {
				rep.Reloads = append(rep.Reloads, statusReload{Time: r.Time, Instance: r.Instance, File: r.File, Result: r.Result, Errors: r.Errors})
			}
		case audit.KindCall:
			if r.Time.Before(rep.Since) {
				return
			}
			var held bool // answered "approval pending"
			switch r.Decision {
			case "allow":
				if r.Outcome != "" {
					in.Calls++
				}
				return
			case "hidden", "invalid":
				// A call to a tool the client cannot see, or a message
				// refused as malformed, ambiguous or without an id.
				if r.Decision == "hidden" && !r.Monitor {
					in.Hidden++
					in.Calls++
				} else if r.Decision == "invalid" {
					in.Invalid++
				}
				if r.Monitor {
					in.Monitored++
				}
				rep.RecentDenials = append(rep.RecentDenials, statusDenial{Time: r.Time, Instance: r.Instance,
					Identity: r.Identity, Tool: r.Tool, Decision: r.Decision, Monitor: r.Monitor, Rule: r.Rule, Reason: r.Reason})
				return
			case "deny":
			case "approval_required", "approval_requested", "approval_reused":
				held = true
			default:
				return // a step in an approval's life, not an answer to a call
			}
			if !r.Monitor {
				in.Calls++
			}
			name := r.Rule
			if name == "" {
				name = "(no rule: " + firstWords(r.Reason, 6) + ")"
			}
			rc := rules[name]
			if rc == nil {
				rc = &ruleCount{Rule: name}
				rules[name] = rc
			}
			switch {
			case r.Monitor:
				in.Monitored++
				rc.WouldDeny++
			case held:
				in.Approvals++
				rc.Denied++
			default:
				in.Denied++
				rc.Denied++
			}
			rep.RecentDenials = append(rep.RecentDenials, statusDenial{Time: r.Time, Instance: r.Instance,
				Identity: r.Identity, Tool: r.Tool, Decision: r.Decision, Monitor: r.Monitor, Rule: r.Rule, Reason: r.Reason})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read the audit trail: %w", err)
	}
	rep.BadLines = bad
	for chain, in := range lastByChain {
		in.Running = in.Stopped.IsZero() && audit.Running(dir, chain)
	}
	for _, in := range byInst {
		from := rep.Since
		if in.Started.After(from) {
			from = in.Started
		}
		to := now
		if !in.Running && !in.LastSeen.IsZero() && in.LastSeen.Before(to) {
			to = in.LastSeen
		}
		if mins := to.Sub(from).Minutes(); mins > 0 {
			in.CallsPerMin = float64(in.Calls) / max(mins, 1)
		}
		// Show instances active in the window, and every running one.
		if in.Running || !in.LastSeen.Before(rep.Since) {
			rep.Instances = append(rep.Instances, in)
		}
		if in.Lost > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("instance %s lost %d audit line(s) to write errors (last: %s)", in.Instance, in.Lost, in.LastLostError))
		}
		if in.Dropped > 0 {
			rep.Problems = append(rep.Problems, fmt.Sprintf("instance %s dropped %d audit line(s): the audit buffer was full", in.Instance, in.Dropped))
		}
	}
	sort.Slice(rep.Instances, func(i, j int) bool {
		a, b := rep.Instances[i], rep.Instances[j]
		if a.Running != b.Running {
			return a.Running
		}
		return a.LastSeen.After(b.LastSeen)
	})
	for _, rc := range rules {
		rep.DenialsByRule = append(rep.DenialsByRule, *rc)
	}
	sort.Slice(rep.DenialsByRule, func(i, j int) bool {
		a, b := rep.DenialsByRule[i], rep.DenialsByRule[j]
		if a.Denied+a.WouldDeny != b.Denied+b.WouldDeny {
			return a.Denied+a.WouldDeny > b.Denied+b.WouldDeny
		}
		return a.Rule < b.Rule
	})
	sort.SliceStable(rep.RecentDenials, func(i, j int) bool { return rep.RecentDenials[i].Time.After(rep.RecentDenials[j].Time) })
	if len(rep.RecentDenials) > recent {
		rep.RecentDenials = rep.RecentDenials[:recent]
	}
	for _, r := range rep.Reloads {
		if r.Result != "ok" {
			rep.Problems = append(rep.Problems, fmt.Sprintf("a reload of %s at %s was not applied (%s): %s", r.File, r.Time.Format(time.DateTime), r.Result, firstOr(r.Errors)))
		}
	}
	if free, ok := audit.FreeSpace(dir); ok {
		rep.FreeBytes = &free
		if free < lowDisk {
			rep.Problems = append(rep.Problems, fmt.Sprintf("the disk holding %s is full (%s free): audit lines are being lost", dir, humanBytes(free)))
		}
	}
	if bad > 0 {
		rep.Problems = append(rep.Problems, fmt.Sprintf("%d unreadable audit line(s); run tollgate audit verify", bad))
	}
	sort.Strings(rep.Problems)
	return rep, nil
}

func firstOr(list []string) string {
	if len(list) == 0 {
		return "no details"
	}
	if len(list) > 1 {
		return fmt.Sprintf("%s (and %d more)", list[0], len(list)-1)
	}
	return list[0]
}

func firstWords(s string, n int) string {
	w := strings.Fields(s)
	if len(w) > n {
		return strings.Join(w[:n], " ") + "…"
	}
	return strings.Join(w, " ")
}

func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func printStatus(w io.Writer, rep *statusReport) {
	fmt.Fprintf(w, "Audit trail: %s", rep.Dir)
	if rep.FreeBytes != nil {
		fmt.Fprintf(w, " (%s free)", humanBytes(*rep.FreeBytes))
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
