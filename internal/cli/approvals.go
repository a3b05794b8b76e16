package cli

import (
	"context"
	"crypto/ed25519"
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
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/visible"
)

const approvalsUsage = `Usage: tollgate approvals list|show|approve|deny|sign|keygen [ID] [flags]

Works on the approvals queue in the state store a proxy uses (the SQLite file
under --state-dir by default, or --state redis://... for a fleet):

  tollgate approvals list [--status pending|approved|denied|consumed|expired|all]
  tollgate approvals show ID
  tollgate approvals approve ID -c policy.yaml [--approver NAME] [--reason TEXT]
  tollgate approvals deny ID [--approver NAME] [--reason TEXT]
  tollgate approvals sign ID -c policy.yaml [--approver NAME]
  tollgate approvals keygen --name NAME

Approving is signing: approve asks for the approver's passphrase on the
terminal (or --passphrase-file), derives their key, and stores a signature
the proxy checks against approvals.approvers in its policy. keygen prints
the public key line for the policy; the passphrase is the private key and is
never stored. sign prints the signature (and the admin API body) for other
tools. With --admin-url and --admin-token-file, approve and deny go through a
running proxy's admin API instead of the store.

An approved call runs once, when the agent retries it unchanged.
See docs/approvals.md#trust-model.

Flags:
`

type approvalsFlags struct {
	stateFlags
	approver       string
	reason         string
	status         string
	limit          int
	json           bool
	config         string
	passFile       string
	name           string
	adminURL       string
	adminTokenFile string
}

func (f *approvalsFlags) register(fs *flag.FlagSet) {
	f.stateFlags.register(fs)
	fs.StringVar(&f.approver, "approver", "", "who decides, recorded with the decision; approve: an approver the policy lists (default: the policy's only approver, else $USER)")
	fs.StringVar(&f.config, "c", "", "approve, sign: the policy file, whose approvals.approvers says whose key counts")
	fs.StringVar(&f.config, "config", "", "same as -c")
	fs.StringVar(&f.passFile, "passphrase-file", "", "approve, sign, keygen: read the passphrase from this file's first line instead of the terminal")
	fs.StringVar(&f.name, "name", "", "keygen: the approver's name, as the policy will list it")
	fs.StringVar(&f.adminURL, "admin-url", "", "approve, deny, sign: use a running proxy's admin API (http://127.0.0.1:PORT) instead of the store")
	fs.StringVar(&f.adminTokenFile, "admin-token-file", "", "with --admin-url: the file holding the admin token (admin.token in the proxy's state directory)")
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
	needID := verb == "show" || verb == "approve" || verb == "deny" || verb == "sign"
	switch {
	case verb != "list" && verb != "keygen" && !needID:
		fmt.Fprintf(e.stderr, "tollgate approvals: unknown action %q (want list, show, approve, deny, sign or keygen)\n", verb)
		return exitUsage
	case needID && len(pos) != 1:
		fmt.Fprintf(e.stderr, "tollgate approvals %s: give exactly one approval id (apr_...)\n", verb)
		return exitUsage
	case !needID && len(pos) != 0:
		fmt.Fprintf(e.stderr, "tollgate approvals %s: unexpected argument %q\n", verb, pos[0])
		return exitUsage
	}
	if verb == "keygen" {
		return runKeygen(e, &f)
	}
	// Approving needs to know whose key counts before it asks for anything.
	var keys map[string]ed25519.PublicKey
	var pol *policy.Policy
	havePolicy := false
	if verb == "approve" || verb == "sign" {
		var err error
		pol, keys, err = policyApprovers(&f)
		havePolicy = pol != nil
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate approvals %s: %v\n", verb, err)
			return exitFail
		}
		switch {
		case !havePolicy && f.adminURL == "":
			fmt.Fprintf(e.stderr, "tollgate approvals %s: give the proxy's policy with -c policy.yaml (its approvals.approvers says whose signature counts; %s)\n", verb, trustModelDoc)
			return exitUsage
		case havePolicy && len(keys) == 0:
			fmt.Fprintf(e.stderr, "tollgate approvals %s: %s\n", verb, noApproversHelp)
			return exitFail
		}
	}
	var store approval.Store
	var api *adminClient
	if f.adminURL != "" {
		if verb != "approve" && verb != "deny" && verb != "sign" {
			fmt.Fprintf(e.stderr, "tollgate approvals %s: --admin-url works with approve, deny and sign\n", verb)
			return exitUsage
		}
		var err error
		if api, err = newAdminClient(&f); err != nil {
			fmt.Fprintf(e.stderr, "tollgate approvals %s: %v\n", verb, err)
			return exitUsage
		}
	} else {
		if f.state == "memory" {
			fmt.Fprintln(e.stderr, "tollgate approvals: --state memory lives inside one proxy process; use the admin API (tollgate run --admin-addr, then --admin-url) or a shared store")
			return exitUsage
		}
		b, err := f.backend(ctx)
		if err == nil {
			store, err = b.Approvals(ctx)
		}
		defer f.closeBackend()
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate approvals: %v\n", err)
			return exitFail
		}
	}
	now := time.Now()
	get := func(id string) (approval.Record, error) {
		if api != nil {
			return api.do(ctx, "GET", "/v1/approvals/"+id, nil)
		}
		return store.Get(ctx, id, now)
	}
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
	approve := verb == "approve" || verb == "sign"
	var approver, sig string
	if approve {
		var err error
		if approver, err = approverFor(&f, keys, havePolicy); err != nil {
			fmt.Fprintf(e.stderr, "tollgate approvals %s: %v\n", verb, err)
			return exitUsage
		}
		r, err := get(pos[0])
		if err != nil {
			return approvalsError(e, verb, pos[0], err)
		}
		switch r.Status {
		case approval.Pending:
		case approval.Expired:
			return approvalsError(e, verb, pos[0], approval.ErrExpired)
		default:
			return approvalsError(e, verb, pos[0], approval.ErrNotPending)
		}
		if sig, err = signApproval(e, &f, pol, keys, approver, r); err != nil {
			fmt.Fprintf(e.stderr, "tollgate approvals %s: %v\n", verb, err)
			return exitFail
		}
		if verb == "sign" {
			body, _ := json.Marshal(map[string]string{"approver": approver, "signature": sig})
			fmt.Fprintf(e.stdout, "%s\n", body)
			fmt.Fprintf(e.stderr, "POST this body to /v1/approvals/%s/approve on the admin API (add \"reason\" if you like)\n", r.ID)
			return exitOK
		}
	} else {
		approver = strings.TrimSpace(f.approver)
		if approver == "" {
			approver = defaultApprover()
		}
		if approver == "" {
			fmt.Fprintf(e.stderr, "tollgate approvals %s: say who decides with --approver NAME ($USER is not set)\n", verb)
			return exitUsage
		}
	}
	var r approval.Record
	var err error
	if api != nil {
		r, err = api.do(ctx, "POST", "/v1/approvals/"+pos[0]+"/"+verb, map[string]string{"approver": approver, "signature": sig, "reason": f.reason})
	} else {
		r, err = store.Decide(ctx, pos[0], approval.Decision{Approve: approve, Approver: approver, Note: f.reason, Signature: sig, Now: now})
	}
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
	// Every field may come from the agent (or from whoever wrote the
	// store): characters that hide or reorder text, or drive the terminal,
	// are shown as escapes.
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, visible.Line(v))
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
	row("signature", r.Signature)
	row("consumed", ts(r.ConsumedAt))
	row("policy revision", r.PolicyRev)
	tw.Flush()
}
