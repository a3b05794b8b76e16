package cli

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/inspect"
	"github.com/tollgate-mcp/tollgate/internal/pins"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/redact"
)

const pinsUsage = `Usage: tollgate pins list [--server NAME] [--all] [--json] [-c policy.yaml]
       tollgate pins diff [NAME...] [--server NAME]
       tollgate pins approve NAME [--server NAME] -c policy.yaml [--approver NAME]
       tollgate pins reject NAME [--server NAME] [--approver NAME] [--reason TEXT]

Pinned tool definitions. The first time tollgate run sees a server's tools,
it records each tool's definition (name, title, description, input and
output schema, annotations) by hash in the state store. When a definition
changes later, or a tool appears that was not in the first list, the change
is pending: under "pins: enforce" in the policy the tool is held out of
tools/list and its calls are denied until a person approves it here; under
"pins: record" (tollgate run's default) it is only flagged. Prompts,
resources (named by their uri) and resource templates (by their
uriTemplate) are pinned the same way: choose them with --kind.

  list     the servers' pins; pending changes only unless --all
  diff     what changed in each pending definition, as a unified diff, with
           the poisoning markers (hidden Unicode, <IMPORTANT> blocks,
           instructions to the model) found in the new definition
  approve  makes the pending definition the approved one. When the policy
           (-c) lists approvers (approvals.approvers), it asks for the
           approver's passphrase and signs the approval: a proxy whose policy
           lists approvers honours only signed approvals. Otherwise it asks
           for confirmation on the terminal, or takes --yes.
  reject   records that a person refused the change; the tool stays held
           while the server shows it

A server is named as tollgate run names it: its command line, its --upstream
URL, or --server-name. --server may be left out when only one server has a
pin by that name. See docs/pins.md.

Flags:
`

type pinsFlags struct {
	stateFlags
	server   string
	kind     string
	hash     string
	all      bool
	json     bool
	config   string
	approver string
	reason   string
	passFile string
	yes      bool
}

func (f *pinsFlags) register(fs *flag.FlagSet) {
	f.stateFlags.register(fs)
	fs.StringVar(&f.server, "server", "", "the server, as tollgate run names it (its command line, --upstream URL or --server-name)")
	fs.StringVar(&f.kind, "kind", "tool", "tool, prompt, resource or template (a resource template, named by its uriTemplate)")
	fs.StringVar(&f.hash, "hash", "", "approve, reject: the pending definition's hash (or its first 8+ digits, as list shows); refused if the server changed it again since")
	fs.BoolVar(&f.all, "all", false, "list: every pin, approved ones too")
	fs.BoolVar(&f.json, "json", false, "list, diff: print JSON")
	fs.StringVar(&f.config, "c", "", "approve, list: the proxy's policy file, whose approvals.approvers says whose signature counts (list marks approvals it would not honour \"unverified\")")
	fs.StringVar(&f.config, "config", "", "same as -c")
	fs.StringVar(&f.approver, "approver", "", "who decides, recorded with the decision (approve: an approver the policy lists; default: the policy's only approver, else $USER)")
	fs.StringVar(&f.reason, "reason", "", "why, recorded with the decision")
	fs.StringVar(&f.passFile, "passphrase-file", "", "approve: read the approver's passphrase from this file's first line instead of the terminal")
	fs.BoolVar(&f.yes, "yes", false, "approve with no approvers listed: do not ask for confirmation on the terminal")
}

func runPins(ctx context.Context, e env, args []string) int {
	var f pinsFlags
	fs := flag.NewFlagSet("tollgate pins", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, pinsUsage)
		fs.PrintDefaults()
	}
	f.register(fs)
	if len(args) == 0 {
		fs.Usage()
		return exitUsage
	}
	verb := args[0]
	if verb == "-h" || verb == "--help" || verb == "-help" || verb == "help" {
		fs.Usage()
		return exitOK
	}
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	kind, err := pins.ParseKind(f.kind)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate pins: --kind: %v\n", err)
		return exitUsage
	}
	switch verb {
	case "list", "diff":
		if verb == "list" && len(pos) > 0 {
			fmt.Fprintf(e.stderr, "tollgate pins list: unexpected argument %q (use --server to choose a server)\n", pos[0])
			return exitUsage
		}
	case "approve", "reject":
		if len(pos) != 1 {
			fmt.Fprintf(e.stderr, "tollgate pins %s: give exactly one tool name\n", verb)
			return exitUsage
		}
	default:
		fmt.Fprintf(e.stderr, "tollgate pins: unknown action %q (want list, diff, approve or reject)\n", verb)
		return exitUsage
	}
	if f.state == "memory" {
		fmt.Fprintln(e.stderr, "tollgate pins: --state memory lives inside one proxy process; use the proxy's shared store (the default SQLite file, sqlite://… or redis://…)")
		return exitUsage
	}
	// Approving needs to know whose key counts before it opens anything.
	var keys map[string]ed25519.PublicKey
	havePolicy := false
	if verb == "approve" {
		if keys, havePolicy, err = pinApprovers(f.config); err != nil {
			fmt.Fprintf(e.stderr, "tollgate pins approve: %v\n", err)
			return exitFail
		}
	}
	b, err := f.backend(ctx)
	defer f.closeBackend()
	var store *pins.Store
	if err == nil {
		store, err = b.Pins(ctx)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate pins: %v\n", err)
		return exitFail
	}
	switch verb {
	case "list":
		return pinsList(ctx, e, &f, store)
	case "diff":
		return pinsDiff(ctx, e, &f, store, kind, pos)
	}
	p, code := findPending(ctx, e, &f, store, verb, kind, pos[0])
	if code != exitOK {
		return code
	}
	if verb == "reject" {
		who := strings.TrimSpace(f.approver)
		if who == "" {
			who = defaultApprover()
		}
		r, err := store.Reject(ctx, p.Server, p.Kind, p.Name, p.Pending.Hash, who, time.Now())
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate pins reject: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(e.stdout, "rejected the pending definition of %s %q of %s (%s) by %s; it stays held while the server shows it\n",
			r.Kind, r.Name, r.Server, short(r.Pending.Hash), who)
		return exitOK
	}
	// Show what is being approved before anyone is asked.
	hash := p.Hash
	if p.Pending != nil {
		hash = p.Pending.Hash
		printPinDiff(e, &p)
	} else {
		fmt.Fprintf(e.stdout, "%s %q of %s: approved %s (by %s); approving it again replaces that approval\n%s\n",
			p.Kind, p.Name, p.Server, short(p.Hash), approverText(p.Approver), pins.Pretty(p.Definition))
	}
	a := pins.Approval{Note: f.reason, Now: time.Now()}
	if havePolicy && len(keys) > 0 {
		af := &approvalsFlags{approver: f.approver, passFile: f.passFile}
		if a.Approver, err = approverFor(af, keys, true); err != nil {
			fmt.Fprintf(e.stderr, "tollgate pins approve: %v\n", err)
			return exitUsage
		}
		key, err := pinKey(&f, keys, a.Approver, &p)
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate pins approve: %v\n", err)
			return exitFail
		}
		a.Signature = pins.Sign(key, p.Server, p.Kind, p.Name, hash, a.Approver)
	} else {
		if !havePolicy {
			fmt.Fprintln(e.stderr, "tollgate pins approve: no policy given (-c): this approval is not signed, and a proxy whose policy lists approvers will not honour it")
		}
		if a.Approver = strings.TrimSpace(f.approver); a.Approver == "" {
			a.Approver = defaultApprover()
		}
		if a.Approver == "" {
			a.Approver = "operator"
		}
		if !f.yes {
			ok, err := confirmOnTTY(fmt.Sprintf("Approve this definition of %s %q of %s? [y/N] ", p.Kind, p.Name, p.Server))
			if err != nil {
				fmt.Fprintf(e.stderr, "tollgate pins approve: %v\n", err)
				return exitFail
			}
			if !ok {
				fmt.Fprintln(e.stderr, "tollgate pins approve: not approved")
				return exitFail
			}
		}
	}
	r, err := store.Approve(ctx, p.Server, p.Kind, p.Name, hash, a)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate pins approve: %v\n", err)
		return exitFail
	}
	signed := ""
	if r.Signature != "" {
		signed = ", signed"
	}
	fmt.Fprintf(e.stdout, "approved %s %q of %s (%s) by %s%s; a proxy shows it from its next tools/list\n",
		r.Kind, r.Name, r.Server, short(r.Hash), r.Approver, signed)
	return exitOK
}

func approverText(a string) string {
	if a == "" {
		return "first use"
	}
	return a
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// pinApprovers loads the approvers of the policy file, when one is given.
func pinApprovers(file string) (map[string]ed25519.PublicKey, bool, error) {
	if file == "" {
		return nil, false, nil
	}
	p, err := policy.LoadFile(file)
	if err != nil {
		return nil, false, err
	}
	return p.Approvals().Approvers, true, nil
}

// pinKey asks for the approver's passphrase and derives their key, which
// must be the one the policy lists.
func pinKey(f *pinsFlags, keys map[string]ed25519.PublicKey, approver string, p *pins.Pin) (ed25519.PrivateKey, error) {
	pass, err := readPassphrase(f.passFile, fmt.Sprintf("Passphrase of approver %s to approve %s %q of %s: ", approver, p.Kind, p.Name, p.Server), false)
	if err != nil {
		return nil, err
	}
	key, err := approval.DeriveKey(approver, pass)
	if err != nil {
		return nil, err
	}
	if !keys[approver].Equal(key.Public()) {
		return nil, fmt.Errorf("wrong passphrase for %s: its key is not the one the policy lists", approver)
	}
	return key, nil
}

// confirmOnTTY asks a yes/no question on the terminal (/dev/tty, not
// stdin: an agent's shell tool has stdin but no terminal).
func confirmOnTTY(prompt string) (bool, error) {
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Errorf("confirm: no terminal to ask on (%w); the person approving runs this, or passes --yes", err)
	}
	defer tty.Close()
	fmt.Fprint(tty, prompt)
	line, err := bufio.NewReader(tty).ReadString('\n')
	if err != nil && line == "" {
		return false, fmt.Errorf("confirm: %w", err)
	}
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes", nil
}

// findPending finds the pin a person names, with a pending change.
func findPending(ctx context.Context, e env, f *pinsFlags, store *pins.Store, verb string, kind pins.Kind, name string) (pins.Pin, int) {
	all, err := store.List(ctx, f.server)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate pins %s: %v\n", verb, err)
		return pins.Pin{}, exitFail
	}
	var match []pins.Pin
	for _, p := range all {
		if p.Kind == kind && p.Name == name {
			match = append(match, p)
		}
	}
	switch {
	case len(match) == 0:
		where := "any server"
		if f.server != "" {
			where = fmt.Sprintf("server %q", f.server)
		}
		fmt.Fprintf(e.stderr, "tollgate pins %s: no %s %q on %s (tollgate pins list --all shows the pins)\n", verb, kind, name, where)
		return pins.Pin{}, exitFail
	case len(match) > 1:
		var servers []string
		for _, p := range match {
			servers = append(servers, fmt.Sprintf("%q", p.Server))
		}
		fmt.Fprintf(e.stderr, "tollgate pins %s: %s %q is pinned on several servers (%s): choose one with --server\n", verb, kind, name, strings.Join(servers, ", "))
		return pins.Pin{}, exitUsage
	}
	p := match[0]
	if p.Pending == nil && verb == "approve" && p.Hash != "" && (f.hash == "" || f.hash == p.Hash || pins.MatchHash(p.Hash, f.hash)) {
		return p, exitOK // approving what is approved: signing it
	}
	if p.Pending == nil {
		fmt.Fprintf(e.stderr, "tollgate pins %s: %s %q of %s has no pending change (approved %s)\n", verb, p.Kind, p.Name, p.Server, short(p.Hash))
		return pins.Pin{}, exitFail
	}
	if f.hash != "" && p.Pending.Hash != f.hash && !pins.MatchHash(p.Pending.Hash, f.hash) {
		fmt.Fprintf(e.stderr, "tollgate pins %s: the pending definition of %s %q is %s, not %s: the server changed it again; look at it with tollgate pins diff\n",
			verb, p.Kind, p.Name, short(p.Pending.Hash), f.hash)
		return pins.Pin{}, exitFail
	}
	return p, exitOK
}

// pinView is a pin as list --json prints it.
type pinView struct {
	pins.Pin
	Status string               `json:"status"`
	Flags  []inspect.PoisonFlag `json:"flags,omitempty"`
}

func pinsList(ctx context.Context, e env, f *pinsFlags, store *pins.Store) int {
	keys, havePolicy, err := pinApprovers(f.config)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate pins list: %v\n", err)
		return exitFail
	}
	all, err := store.List(ctx, f.server)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate pins list: %v\n", err)
		return exitFail
	}
	var shown []pinView
	for _, p := range all {
		// With the proxy's policy, an approval it would not honour (not
		// signed by an approver it lists) is shown as unverified: held.
		unverified := havePolicy && len(keys) > 0 && p.Pending == nil && pins.Verify(keys, &p) != nil
		if !f.all && p.Pending == nil && !unverified {
			continue
		}
		v := pinView{Pin: p, Status: string(p.Status())}
		if unverified {
			v.Status = "unverified"
		}
		if p.Pending != nil {
			v.Flags = inspect.Poisoning(p.Pending.Definition)
		}
		shown = append(shown, v)
	}
	if f.json {
		if shown == nil {
			shown = []pinView{}
		}
		out, _ := json.MarshalIndent(shown, "", "  ")
		fmt.Fprintf(e.stdout, "%s\n", out)
		return exitOK
	}
	if len(shown) == 0 {
		if f.all {
			fmt.Fprintln(e.stdout, "no pins")
		} else {
			fmt.Fprintln(e.stdout, "no pending changes (--all lists the approved pins too)")
		}
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tKIND\tNAME\tSTATUS\tAPPROVED\tPENDING\tSINCE\tFLAGS")
	for _, v := range shown {
		pend, since := "-", v.ApprovedAt.Local().Format(time.DateTime)
		if v.Pending != nil {
			pend, since = short(v.Pending.Hash), v.Pending.FirstSeen.Local().Format(time.DateTime)
		}
		approved := short(v.Hash)
		if approved == "" {
			approved = "-"
		}
		flags := "-"
		if len(v.Flags) > 0 {
			flags = fmt.Sprintf("%d poisoning marker(s)", len(v.Flags))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.Server, v.Kind, v.Name, v.Status, approved, pend, since, flags)
	}
	tw.Flush()
	return exitOK
}

func pinsDiff(ctx context.Context, e env, f *pinsFlags, store *pins.Store, kind pins.Kind, names []string) int {
	all, err := store.List(ctx, f.server)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate pins diff: %v\n", err)
		return exitFail
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	n := 0
	for i := range all {
		p := &all[i]
		if p.Pending == nil || (len(want) > 0 && (p.Kind != kind || !want[p.Name])) {
			continue
		}
		if n > 0 {
			fmt.Fprintln(e.stdout)
		}
		n++
		printPinDiff(e, p)
	}
	if n == 0 {
		fmt.Fprintln(e.stdout, "no pending changes")
	}
	return exitOK
}

// printPinDiff prints one pending change: what, since when, the markers
// found in the new definition, and the diff.
func printPinDiff(e env, p *pins.Pin) {
	fmt.Fprintf(e.stdout, "%s %q of %s: %s since %s\n", p.Kind, p.Name, p.Server, p.Status(), p.Pending.FirstSeen.Local().Format(time.DateTime))
	if p.Pending.RejectedBy != "" {
		fmt.Fprintf(e.stdout, "rejected by %s at %s\n", p.Pending.RejectedBy, p.Pending.RejectedAt.Local().Format(time.DateTime))
	}
	fmt.Fprintf(e.stdout, "pending hash %s\n", p.Pending.Hash)
	for _, fl := range inspect.Poisoning(p.Pending.Definition) {
		fmt.Fprintf(e.stdout, "FLAG poisoning %s\n", fl)
	}
	oldLabel := "approved " + short(p.Hash)
	if p.Hash == "" {
		oldLabel = "(never approved: new since the first list)"
	}
	fmt.Fprint(e.stdout, pins.Diff(oldLabel, "pending "+short(p.Pending.Hash), p.Definition, p.Pending.Definition))
}

// pinFlags are tollgate run's pins flag.
type pinFlags struct {
	serverName string
	argv       []string // the server's command line, when it is a child
}

func (f *pinFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.serverName, "server-name", "", "the name this server's pins and approvals are kept under (default: its command line, or its --upstream URL without credentials)")
}

// serverName is the name tollgate run keeps the server's pins and
// approvals under: --server-name, else the --upstream URL without
// credentials, else the command line.
func (f *runFlags) serverName() string {
	switch {
	case f.pins.serverName != "":
		return f.pins.serverName
	case f.upstream.url != "":
		return redact.URL(f.upstream.url)
	}
	return strings.Join(f.pins.argv, " ")
}

// serverPolicyTag is what tollgate run appends to the policy file's
// content before loading it: a comment naming the server, so that the
// policy's revision, and with it every approval's fingerprint, belongs to
// this server. Two servers run with one policy file then never take each
// other's approvals (an approval of delete_repo on a scratch server is not
// one on the production server), as a gateway's servers never do. The name
// is quoted: a line break in a command line cannot end the comment.
func serverPolicyTag(name string) []byte {
	return []byte("\n# tollgate run server: " + strconv.Quote(name) + "\n")
}

// setupPins gives the gate its pin guard, unless the policy says pins: off,
// and starts the watch that stop ends.
// tollgate run records by default. A store that cannot be opened stops the
// run under enforce; under record it is opened at the first tools/list,
// and a failure there is logged (the list passes, nothing is held).
func setupPins(ctx context.Context, f *runFlags, pol *policy.Policy, g *gate.Gate, logger *slog.Logger) (stop func(), err error) {
	mode := pins.Record
	if m, err := pins.ParseMode(pol.Pins()); err == nil {
		mode = m
	}
	if mode == pins.Off {
		return func() {}, nil
	}
	name := f.serverName()
	open := func(ctx context.Context) (*pins.Store, error) {
		b, err := f.stateFlags.backend(ctx)
		if err != nil {
			return nil, err
		}
		return b.Pins(ctx)
	}
	var store *pins.Store
	if mode == pins.Enforce {
		// Calls before the first list are judged by the record: read it now,
		// and refuse to start without a store.
		var err error
		if store, err = open(ctx); err != nil {
			return nil, fmt.Errorf("pins: enforce: %w", err)
		}
	} else {
		// Recording only: open the store at the first tools/list, not at
		// start-up (a few ms of SQLite schema work every run would pay).
		store = pins.NewStore(pins.Lazy(func(ctx context.Context) (pins.Backend, error) {
			s, err := open(ctx)
			if err != nil {
				logger.Warn("pins: the state store could not be opened; tool definitions are not recorded", "err", err)
				return nil, err
			}
			return s.Backend(), nil
		}))
	}
	guard := pins.NewGuard(name, store)
	if mode == pins.Enforce {
		if err := guard.Load(ctx, pol.Approvals().Approvers); err != nil {
			logger.Warn("pins: could not read the recorded definitions; calls are judged from the next tools/list", "server", name, "err", err)
		}
	}
	g.Pins = guard
	g.PinsDefault = pins.Record
	if mode != pins.Enforce {
		return func() { flushPins(g, logger) }, nil
	}
	// While something is held, an approval given with the CLI (or by
	// another proxy) releases it here and tells the sessions their list
	// changed, so the client need not reconnect.
	wctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		guard.Watch(wctx, pinWatchInterval, func() map[string]ed25519.PublicKey { return g.Policy().Approvals().Approvers },
			func() { g.PinApproved(pins.Pin{}) })
	}()
	return func() { cancel(); <-done; flushPins(g, logger) }, nil
}

// flushPins waits, at most pinFlushWait, until the gate has recorded the
// lists it records off their answers' path (pins that hold nothing).
func flushPins(g *gate.Gate, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), pinFlushWait)
	defer cancel()
	if err := g.FlushPins(ctx); err != nil {
		logger.Warn("pins: stopped before every tool list seen was recorded", "err", err)
	}
}

// pinFlushWait bounds how long a stopping command waits for the lists it
// still records.
const pinFlushWait = 10 * time.Second

// pinWatchInterval is how often a proxy holding tools looks for approvals
// given elsewhere.
const pinWatchInterval = 2 * time.Second
