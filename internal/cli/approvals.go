package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/approval/approvalopen"
)

const approvalsUsage = `Usage: tollgate approvals list|show|approve|deny [ID] [flags]

Works on the approvals queue in the state store a proxy uses (the SQLite file
under --state-dir by default, or --state redis://... for a fleet):

  tollgate approvals list [--status pending|approved|denied|consumed|expired|all]
  tollgate approvals show ID
  tollgate approvals approve ID [--approver NAME] [--reason TEXT]
  tollgate approvals deny ID [--approver NAME] [--reason TEXT]

An approved call runs once, when the agent retries it unchanged.

Flags:
`

type approvalsFlags struct {
	stateFlags
	approver string
	reason   string
	status   string
	limit    int
	json     bool
}

func (f *approvalsFlags) register(fs *flag.FlagSet) {
	f.stateFlags.register(fs)
	fs.StringVar(&f.approver, "approver", defaultApprover(), "who decides, recorded with the decision (default $USER)")
	fs.StringVar(&f.reason, "reason", "", "why, recorded with the decision")
	fs.StringVar(&f.status, "status", "pending", "list: which records (pending, approved, denied, consumed, expired or all)")
	fs.IntVar(&f.limit, "limit", 100, "list: at most this many records, newest first")
	fs.BoolVar(&f.json, "json", false, "print JSON")
}

// defaultApprover is $USER, else the account's name.
func defaultApprover() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

func runApprovals(ctx context.Context, e env, args []string) int {
	var f approvalsFlags
	fs := flag.NewFlagSet("tollgate approvals", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, approvalsUsage)
		fs.PrintDefaults()
	}
	f.register(fs)
	if len(args) == 0 {
		fs.Usage()
		return exitUsage
	}
	verb, rest := args[0], args[1:]
	if verb == "-h" || verb == "--help" || verb == "-help" || verb == "help" {
		fs.Usage()
		return exitOK
	}
	// Flags may come before or after the id.
	var pos []string
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return exitOK
			}
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	needID := verb == "show" || verb == "approve" || verb == "deny"
	switch {
	case verb != "list" && !needID:
		fmt.Fprintf(e.stderr, "tollgate approvals: unknown action %q (want list, show, approve or deny)\n", verb)
		return exitUsage
	case needID && len(pos) != 1:
		fmt.Fprintf(e.stderr, "tollgate approvals %s: give exactly one approval id (apr_...)\n", verb)
		return exitUsage
	case !needID && len(pos) != 0:
		fmt.Fprintf(e.stderr, "tollgate approvals list: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	if f.state == "memory" {
		fmt.Fprintln(e.stderr, "tollgate approvals: --state memory lives inside one proxy process; use the admin API (tollgate run --admin-addr) or a shared store")
		return exitUsage
	}
	store, err := approvalopen.Open(ctx, f.state, approvalopen.Options{StateDir: f.stateDir, Prefix: f.prefix})
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate approvals: %v\n", err)
		return exitFail
	}
	defer store.Close()
	now := time.Now()
	switch verb {
	case "list":
		return approvalsList(ctx, e, &f, store, now)
	case "show":
		r, err := store.Get(ctx, pos[0], now)
		if err != nil {
			return approvalsError(e, verb, pos[0], err)
		}
		printRecord(e, &f, r)
		return exitOK
	}
	approve := verb == "approve"
	approver := strings.TrimSpace(f.approver)
	if approver == "" {
		fmt.Fprintf(e.stderr, "tollgate approvals %s: say who decides with --approver NAME ($USER is not set)\n", verb)
		return exitUsage
	}
	r, err := store.Decide(ctx, pos[0], approval.Decision{Approve: approve, Approver: approver, Note: f.reason, Now: now})
	if err != nil {
		return approvalsError(e, verb, pos[0], err)
	}
	if f.json {
		printRecord(e, &f, r)
		return exitOK
	}
	if approve {
		fmt.Fprintf(e.stdout, "approved %s (%s) by %s; the agent's identical retry runs once, until %s\n",
			r.ID, r.Tool, r.Approver, r.ExpiresAt.Local().Format(time.RFC3339))
	} else {
		fmt.Fprintf(e.stdout, "denied %s (%s) by %s\n", r.ID, r.Tool, r.Approver)
	}
	return exitOK
}

func approvalsError(e env, verb, id string, err error) int {
	switch {
	case errors.Is(err, approval.ErrNotFound):
		fmt.Fprintf(e.stderr, "tollgate approvals %s: no approval %q in this store\n", verb, id)
	case errors.Is(err, approval.ErrExpired):
		fmt.Fprintf(e.stderr, "tollgate approvals %s: %s has expired; the agent must ask again\n", verb, id)
	case errors.Is(err, approval.ErrNotPending):
		fmt.Fprintf(e.stderr, "tollgate approvals %s: %s was already decided\n", verb, id)
	default:
		fmt.Fprintf(e.stderr, "tollgate approvals %s: %v\n", verb, err)
	}
	return exitFail
}

func approvalsList(ctx context.Context, e env, f *approvalsFlags, store approval.Store, now time.Time) int {
	st := approval.Status(f.status)
	if f.status == "all" {
		st = ""
	} else if !st.Valid() {
		fmt.Fprintf(e.stderr, "tollgate approvals list: --status must be pending, approved, denied, consumed, expired or all, not %q\n", f.status)
		return exitUsage
	}
	recs, err := store.List(ctx, approval.Filter{Status: st, Limit: f.limit, Now: now})
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate approvals list: %v\n", err)
		return exitFail
	}
	if f.json {
		if recs == nil {
			recs = []approval.Record{}
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(recs)
		return exitOK
	}
	if len(recs) == 0 {
		fmt.Fprintf(e.stderr, "no %s approvals\n", strings.TrimSuffix(f.status, "all"))
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tTOOL\tRULE\tCREATED\tEXPIRES\tAPPROVER")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Tool, r.Rule,
			r.CreatedAt.Local().Format(time.DateTime), r.ExpiresAt.Local().Format(time.DateTime), r.Approver)
	}
	tw.Flush()
	return exitOK
}

func printRecord(e env, f *approvalsFlags, r approval.Record) {
	if f.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(r)
		return
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format(time.RFC3339)
	}
	row("id", r.ID)
	row("status", string(r.Status))
	row("tool", r.Tool)
	row("arguments", r.Args)
	row("args hash", r.ArgsHash)
	row("rule", r.Rule)
	row("reason", r.Reason)
	row("session", r.Session)
	row("identity", r.Identity)
	row("created", ts(r.CreatedAt))
	row("expires", ts(r.ExpiresAt))
	row("decided", ts(r.DecidedAt))
	row("approver", r.Approver)
	row("note", r.Note)
	row("consumed", ts(r.ConsumedAt))
	row("policy revision", r.PolicyRev)
	tw.Flush()
}
