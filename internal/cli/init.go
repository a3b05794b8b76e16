package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/clientconf"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/redact"
	"github.com/tollgate-mcp/tollgate/internal/scan"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

const initUsage = `Usage: tollgate init [flags]
       tollgate init --undo [--force]

Puts every MCP server your clients already run behind Tollgate, in one step.

1. Finds the MCP configuration of Claude Desktop, Claude Code, Cursor, VS Code
   and Windsurf at their usual places on this OS (see docs/init.md), or only
   the files given with --config, and shows every server in them: its command
   or URL, and whether it already runs under tollgate.
2. Scans each server that is not yet guarded (it is started, its tools are
   listed and classified, and it is stopped, as tollgate scan does) and writes
   a starting policy for it: Destructive and Financial tools need a person's
   approval, Execute tools are limited to 30 calls a minute, Read tools are
   allowed, Write tools are left to the default (allow). A server that cannot
   be scanned gets a policy that allows every call (still audited), and you
   are told. Policies go to $XDG_CONFIG_HOME/tollgate/policies (or
   ~/.config/tollgate/policies), one per server, <client>-<server>.yaml, 0600;
   an existing policy is used as it is, never overwritten without --force.
3. Rewrites each entry to run through tollgate:
     stdio:  "command": TOLLGATE, "args": ["run", "-c", POLICY, "--", COMMAND, ARGS...]
     remote: "command": TOLLGATE, "args": ["run", "-c", POLICY, "--upstream", URL,
             "--header", "Name: ${TOLLGATE_HEADER_NAME}"...]
   env, cwd and every other key stay as they are. A remote entry's header
   values move into its "env" (which the client passes to tollgate) and the
   args name them only as ${VAR}: tollgate run reads them from there. Only the
   rewritten entries' bytes change: comments, order and layout elsewhere in
   the file are kept. An entry already running tollgate is left alone, so
   running init again changes nothing.

Before it writes, init shows the policies and the changes and asks you to
confirm (--yes skips the question; --dry-run shows everything and writes
nothing). Before its first change to a file it keeps a backup in Tollgate's
state directory (~/.local/state/tollgate/init, 0700); tollgate init --undo puts
every changed file back byte for byte, and refuses for a file edited since
init wrote it unless --force. Policies are left in place by --undo.

Values of env and headers are secrets: they are never printed, and never
written into a policy or a backup's name.

Flags:
`

type initFlags struct {
	yes, dryRun, undo, force bool
	clients                  stringList
	configs                  stringList
	tollgate                 string
	policyDir                string
	stateDir                 string
	timeout                  time.Duration
}

type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*s = append(*s, p)
		}
	}
	return nil
}

func runInit(ctx context.Context, e env, args []string) int {
	var f initFlags
	fs := flag.NewFlagSet("tollgate init", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, initUsage)
		fs.PrintDefaults()
	}
	fs.BoolVar(&f.yes, "yes", false, "do it without asking")
	fs.BoolVar(&f.yes, "y", false, "same as --yes")
	fs.BoolVar(&f.dryRun, "dry-run", false, "show what would be done and the policies, write nothing")
	fs.BoolVar(&f.undo, "undo", false, "restore every file init changed from its backup")
	fs.BoolVar(&f.force, "force", false, "overwrite existing policies; with --undo, restore files edited since")
	fs.Var(&f.clients, "client", "only this `CLIENT`: claude-desktop, claude-code, cursor, vscode, windsurf (repeatable)")
	fs.Var(&f.configs, "config", "only this configuration `FILE` instead of the usual places (repeatable)")
	fs.StringVar(&f.tollgate, "tollgate", "", "tollgate executable the entries run (default: this one's absolute path)")
	fs.StringVar(&f.policyDir, "policy-dir", "", "where policies go (default $XDG_CONFIG_HOME/tollgate/policies or ~/.config/tollgate/policies)")
	fs.StringVar(&f.stateDir, "state-dir", "", "Tollgate's state directory, which holds the backups (default $XDG_STATE_HOME/tollgate or ~/.local/state/tollgate)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "give up scanning one server after this long")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "tollgate init: unexpected argument %q (see --help)\n", fs.Arg(0))
		return exitUsage
	}
	for _, c := range f.clients {
		if !slices.Contains(clientconf.Clients, c) {
			fmt.Fprintf(e.stderr, "tollgate init: --client %q: want one of %s\n", c, strings.Join(clientconf.Clients, ", "))
			return exitUsage
		}
	}
	stateDir := f.stateDir
	if stateDir == "" {
		d, err := state.DefaultDir()
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate init: %v\n", err)
			return exitFail
		}
		stateDir = d
	}
	backups := &clientconf.Backups{Dir: filepath.Join(stateDir, "init")}
	if f.undo {
		return initUndo(e, backups, f.force)
	}
	in, err := newIniter(e, f, backups)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate init: %v\n", err)
		return exitUsage
	}
	return in.run(ctx)
}

// processEnv is the clientconf.Env of this process: the OS it runs on,
// $HOME (which tests set) and the current directory.
func processEnv() clientconf.Env {
	home := os.Getenv("HOME")
	if runtime.GOOS == "windows" && os.Getenv("USERPROFILE") != "" {
		home = os.Getenv("USERPROFILE")
	}
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	dir, _ := os.Getwd()
	return clientconf.Env{
		GOOS:          runtime.GOOS,
		Home:          home,
		AppData:       os.Getenv("APPDATA"),
		XDGConfigHome: os.Getenv("XDG_CONFIG_HOME"),
		Dir:           dir,
	}
}

// initer holds one run of tollgate init.
type initer struct {
	e         env
	f         initFlags
	osEnv     clientconf.Env
	backups   *clientconf.Backups
	tollgate  string
	policyDir string
	files     []*clientconf.File
	items     []*initItem
	failed    bool
}

// initItem is what init does with one entry.
type initItem struct {
	srv    *clientconf.Server
	file   *clientconf.File
	action string // "guarded", "wrap", "bridge", "skip"
	why    string // for skip

	policyPath   string
	policyText   string // "" when an existing policy is used
	policyExists bool
	scanNote     string // why the server was not scanned
}

func newIniter(e env, f initFlags, backups *clientconf.Backups) (*initer, error) {
	in := &initer{e: e, f: f, osEnv: processEnv(), backups: backups}
	in.tollgate = f.tollgate
	if in.tollgate == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find this executable (give --tollgate PATH): %w", err)
		}
		in.tollgate = exe
	}
	abs, err := filepath.Abs(in.tollgate)
	if err != nil {
		return nil, fmt.Errorf("--tollgate: %w", err)
	}
	in.tollgate = abs
	in.policyDir = f.policyDir
	if in.policyDir == "" {
		base := in.osEnv.XDGConfigHome
		if !filepath.IsAbs(base) {
			base = filepath.Join(in.osEnv.Home, ".config")
		}
		in.policyDir = filepath.Join(base, "tollgate", "policies")
	}
	if in.policyDir, err = filepath.Abs(in.policyDir); err != nil {
		return nil, fmt.Errorf("--policy-dir: %w", err)
	}
	return in, nil
}

func (in *initer) printf(format string, args ...any) { fmt.Fprintf(in.e.stdout, format, args...) }

func (in *initer) warnf(format string, args ...any) {
	fmt.Fprintf(in.e.stderr, "tollgate init: "+format+"\n", args...)
}

func (in *initer) run(ctx context.Context) int {
	in.find()
	if len(in.files) == 0 {
		if in.failed {
			return exitFail
		}
		in.printf("No MCP client configuration found. Looked for:\n")
		for _, l := range in.locations() {
			in.printf("  %-15s %s\n", clientconf.Title(l.Client), l.Path)
		}
		in.printf("Give a file with --config PATH.\n")
		return exitOK
	}
	in.plan()
	in.show()
	todo, scans := 0, 0
	for _, it := range in.items {
		if it.action == "wrap" || it.action == "bridge" {
			todo++
			if !it.policyExists || in.f.force {
				scans++
			}
		}
	}
	if todo == 0 {
		in.printf("\nNothing to do: every server is already guarded (or cannot be).\n")
		return in.exit()
	}
	if scans > 0 {
		in.printf("\nScanning %d server(s) for a starting policy (each is started, listed and stopped)…\n", scans)
	}
	in.makePolicies(ctx)
	in.showPolicies()
	in.showChanges()
	if in.f.dryRun {
		in.printf("\nDry run: nothing was written.\n")
		return in.exit()
	}
	if !in.f.yes && !in.confirm() {
		in.printf("Nothing was written.\n")
		return exitFail
	}
	in.apply()
	return in.exit()
}

func (in *initer) exit() int {
	if in.failed {
		return exitFail
	}
	return exitOK
}

func (in *initer) locations() []clientconf.Location {
	if len(in.f.configs) > 0 {
		var locs []clientconf.Location
		for _, p := range in.f.configs {
			abs, err := filepath.Abs(p)
			if err != nil {
				abs = p
			}
			locs = append(locs, clientconf.Location{Path: abs})
		}
		return locs
	}
	var locs []clientconf.Location
	for _, l := range clientconf.Locations(in.osEnv) {
		if len(in.f.clients) == 0 || slices.Contains(in.f.clients, l.Client) {
			locs = append(locs, l)
		}
	}
	return locs
}

// find loads every configuration file there is.
func (in *initer) find() {
	isTollgate := clientconf.IsTollgate(in.tollgate)
	for _, l := range in.locations() {
		if l.Client == "" { // --config: named by its path and content
			data, err := os.ReadFile(l.Path)
			if err != nil {
				in.warnf("%v", err)
				in.failed = true
				continue
			}
			root, _ := clientconf.Parse(data)
			guess := clientconf.Guess(l.Path, root)
			if len(in.f.clients) == 1 {
				guess.Client = in.f.clients[0]
			}
			l = guess
		}
		f, err := clientconf.Load(l, isTollgate)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			in.warnf("skipping %v", err)
			in.failed = true
			continue
		}
		in.files = append(in.files, f)
	}
}

// plan decides what to do with each entry and where its policy goes.
func (in *initer) plan() {
	used := map[string]bool{}
	for _, f := range in.files {
		for _, s := range f.Servers {
			it := &initItem{srv: s, file: f}
			in.items = append(in.items, it)
			switch {
			case s.Guarded:
				it.action = "guarded"
				continue
			case s.Transport == clientconf.Stdio:
				it.action = "wrap"
			case s.Transport == clientconf.Remote:
				it.action = "bridge"
			default:
				it.action, it.why = "skip", "neither a command nor a url"
				continue
			}
			scope := ""
			if f.Project || s.Project != "" {
				scope = f.Path + "\x00" + s.Project
			}
			name := policyFileName(s.Client, s.Name, scope)
			if used[name] {
				name = policyFileName(s.Client, s.Name, f.Path+"\x00"+s.Project)
			}
			used[name] = true
			it.policyPath = filepath.Join(in.policyDir, name)
			if _, err := os.Stat(it.policyPath); err == nil {
				it.policyExists = true
			}
		}
	}
}

func (in *initer) show() {
	in.printf("Found:\n")
	for _, f := range in.files {
		in.printf("\n%s  %s\n", clientconf.Title(f.Client), f.Path)
		if len(f.Servers) == 0 {
			in.printf("  (no MCP servers)\n")
		}
		for _, it := range in.items {
			if it.file != f {
				continue
			}
			s := it.srv
			where := ""
			if s.Project != "" {
				where = " [project " + s.Project + "]"
			}
			var what string
			switch s.Transport {
			case clientconf.Stdio:
				what = "stdio: " + showCommand(s.Command, s.Args)
			case clientconf.Remote:
				what = "remote: " + redact.URL(s.URL)
				if len(s.Headers) > 0 {
					names := make([]string, len(s.Headers))
					for i, h := range s.Headers {
						names[i] = h.Name
					}
					what += " (headers: " + strings.Join(names, ", ") + ")"
				}
			default:
				what = "?"
			}
			var verdict string
			switch it.action {
			case "guarded":
				verdict = "already guarded"
				if s.PolicyPath != "" {
					verdict += " (policy " + s.PolicyPath + ")"
				}
			case "wrap":
				verdict = "not guarded: will run under tollgate"
			case "bridge":
				verdict = "not guarded: will be bridged through tollgate run --upstream"
			case "skip":
				verdict = "skipped: " + it.why
			}
			in.printf("  %s%s\n    %s\n    %s\n", s.Name, where, what, verdict)
		}
	}
}

// makePolicies scans each server to guard whose policy does not exist yet.
func (in *initer) makePolicies(ctx context.Context) {
	for _, it := range in.items {
		if it.action != "wrap" && it.action != "bridge" {
			continue
		}
		if it.policyExists && !in.f.force {
			continue
		}
		client := clientconf.Title(it.srv.Client)
		rep, note := in.scanServer(ctx, it.srv)
		if rep == nil {
			it.scanNote = note
			it.policyText = unscannedPolicy(client, it.srv.Name)
			continue
		}
		it.policyText = initPolicy(rep, client, it.srv.Name)
		if _, err := policy.Load(it.policyPath, []byte(it.policyText)); err != nil {
			// Never write a policy tollgate run would refuse.
			it.scanNote = "the policy made from the scan did not load: " + firstLine(err.Error())
			it.policyText = unscannedPolicy(client, it.srv.Name)
		}
	}
}

// scanServer lists and classifies a server's tools, or says why not. The
// reason shown is the first line of the error only: the rest quotes the
// server's stderr, which may echo its environment.
func (in *initer) scanServer(ctx context.Context, s *clientconf.Server) (*scan.Report, string) {
	ctx, cancel := context.WithTimeoutCause(ctx, in.f.timeout, fmt.Errorf("timed out after %s (raise --timeout for slow servers)", in.f.timeout))
	defer cancel()
	opts := scan.Options{ClientName: "tollgate-init", ClientVersion: Version}
	var inv scan.Inventory
	var err error
	switch s.Transport {
	case clientconf.Stdio:
		opts.Env, opts.Dir = entryEnv(os.Environ(), s.Env), entryDir(s)
		inv, err = scan.FetchStdio(ctx, append([]string{s.Command}, s.Args...), nil, opts)
	case clientconf.Remote:
		h := http.Header{}
		for _, hd := range s.Headers {
			if strings.Contains(hd.Value, "${") {
				return nil, "its headers name variables the client fills in"
			}
			h.Add(hd.Name, hd.Value)
		}
		inv, err = scan.FetchHTTP(ctx, s.URL, h, nil, opts)
	}
	if err != nil {
		msg := firstLine(err.Error())
		for _, hd := range s.Headers {
			if hd.Value != "" {
				msg = strings.ReplaceAll(msg, hd.Value, "…")
			}
		}
		for _, v := range s.Env {
			if len(v) >= 4 {
				msg = strings.ReplaceAll(msg, v, "…")
			}
		}
		return nil, msg
	}
	return scan.Analyze(inv), ""
}

// entryEnv is the environment a stdio entry's server gets from its client,
// as near as init can tell: base (Tollgate's own) with the entry's env over
// it, nil (inherit) when the entry has none. A value that names a variable
// the client fills in (${VAR}, ${input:…}) is left out, as is a name or
// value no process can carry (empty, with '=' or NUL).
func entryEnv(base []string, env map[string]string) []string {
	if len(env) == 0 {
		return nil
	}
	set := map[string]string{}
	for k, v := range env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.Contains(v, "\x00") || strings.Contains(v, "${") {
			continue
		}
		set[k] = v
	}
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !hasKey(set, k) {
			out = append(out, kv)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		out = append(out, k+"="+set[k])
	}
	return out
}

func hasKey(m map[string]string, k string) bool {
	_, ok := m[k]
	return ok
}

// entryDir is the working directory a stdio entry's server gets: its cwd
// when that is an absolute path without client variables, else a Claude
// Code project entry's project directory (where Claude Code runs it), else
// "" (Tollgate's own).
func entryDir(s *clientconf.Server) string {
	if filepath.IsAbs(s.Cwd) && !strings.Contains(s.Cwd, "${") {
		return s.Cwd
	}
	if s.Cwd == "" && filepath.IsAbs(s.Project) {
		if fi, err := os.Stat(s.Project); err == nil && fi.IsDir() {
			return s.Project
		}
	}
	return ""
}

func (in *initer) showPolicies() {
	for _, it := range in.items {
		if it.action != "wrap" && it.action != "bridge" {
			continue
		}
		in.printf("\n── policy for %s (%s): %s\n", it.srv.Name, clientconf.Title(it.srv.Client), it.policyPath)
		switch {
		case it.policyText == "":
			in.printf("   exists already: used as it is (--force to replace it)\n")
			continue
		case it.policyExists:
			in.printf("   exists already: will be replaced (--force)\n")
		}
		if it.scanNote != "" {
			in.printf("   NOT SCANNED (%s): this policy allows every call; each is still audited.\n", it.scanNote)
		}
		for _, line := range strings.SplitAfter(strings.TrimRight(it.policyText, "\n"), "\n") {
			in.printf("   │ %s", strings.TrimRight(line, "\n")+"\n")
		}
	}
}

func (in *initer) showChanges() {
	in.printf("\nChanges:\n")
	for _, it := range in.items {
		s := it.srv
		switch it.action {
		case "wrap":
			in.printf("  %s in %s:\n    command: %s\n    args:    run -c %s -- %s\n",
				s.Name, s.Where(), in.tollgate, it.policyPath, showCommand(s.Command, s.Args))
		case "bridge":
			in.printf("  %s in %s:\n    command: %s\n    args:    run -c %s --upstream %s",
				s.Name, s.Where(), in.tollgate, it.policyPath, redact.URL(s.URL))
			for _, h := range s.Headers {
				in.printf(" --header \"%s: ${…}\"", h.Name)
			}
			in.printf("\n")
			if len(s.Headers) > 0 {
				in.printf("    header values move into the entry's \"env\" (as TOLLGATE_HEADER_*), named in args only as ${VAR}\n")
			}
		}
	}
	in.printf("Backups of changed files go to %s.\n", in.backups.Dir)
}

// confirm asks on the terminal; anything but yes is no.
func (in *initer) confirm() bool {
	in.printf("\nWrite the policies and change the files? [y/N] ")
	line, err := bufio.NewReader(in.e.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	if line == "" {
		in.printf("\n(no answer: give --yes to run without asking)\n")
	}
	return false
}

// apply writes the policies, then rewrites each file with the entries
// whose policy is in place.
func (in *initer) apply() {
	ready := map[*initItem]bool{}
	for _, it := range in.items {
		if it.action != "wrap" && it.action != "bridge" {
			continue
		}
		if it.policyText == "" {
			ready[it] = true
			continue
		}
		if err := writeInitPolicy(it.policyPath, it.policyText, in.f.force); err != nil {
			in.warnf("%s: %v; its entry is left as it is", it.srv.Name, err)
			in.failed = true
			continue
		}
		ready[it] = true
		in.printf("wrote %s\n", it.policyPath)
	}
	for _, f := range in.files {
		rw := clientconf.NewRewrite(f)
		var done []*initItem
		for _, it := range in.items {
			if it.file != f || !ready[it] {
				continue
			}
			vars, err := rw.Guard(it.srv, clientconf.Wrap{Tollgate: in.tollgate, Policy: it.policyPath})
			if err != nil {
				in.warnf("%s: %v", it.srv.Name, err)
				in.failed = true
				continue
			}
			for _, v := range vars {
				in.printf("  %s: header %s now comes from env %s\n", it.srv.Name, v.Header, v.Var)
			}
			done = append(done, it)
		}
		if !rw.Changed() {
			continue
		}
		data, err := rw.Apply()
		if err == nil {
			err = in.backups.Write(f, data)
		}
		if err != nil {
			in.warnf("%v", err)
			in.failed = true
			continue
		}
		names := make([]string, len(done))
		for i, it := range done {
			names[i] = it.srv.Name
		}
		in.printf("updated %s (%s): %s\n", f.Path, clientconf.Title(f.Client), strings.Join(names, ", "))
	}
	in.printf("\nRestart your MCP clients to pick up the change. `tollgate init --undo` puts the files back.\n")
}

// writeInitPolicy creates a policy file only its user can read, in a
// directory only its user can enter; an existing file is replaced only
// with force.
func writeInitPolicy(path, text string, force bool) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	fh, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	if err := fh.Chmod(0o600); err != nil {
		fh.Close()
		return fmt.Errorf("write policy: %w", err)
	}
	if _, err := fh.WriteString(text); err != nil {
		fh.Close()
		return fmt.Errorf("write policy: %w", err)
	}
	if err := fh.Close(); err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	return nil
}

func initUndo(e env, b *clientconf.Backups, force bool) int {
	results, err := b.Undo(force)
	code := exitOK
	if len(results) == 0 && err == nil {
		fmt.Fprintln(e.stdout, "Nothing to undo: tollgate init has not changed any file.")
		return exitOK
	}
	for _, r := range results {
		switch r.Outcome {
		case "restored", "missing":
			fmt.Fprintf(e.stdout, "restored %s (%s)\n", r.Path, clientconf.Title(r.Client))
		case "unchanged":
			fmt.Fprintf(e.stdout, "%s is already the original\n", r.Path)
		default:
			fmt.Fprintf(e.stderr, "tollgate init: %v\n", r.Err)
			code = exitFail
		}
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate init: %v\n", err)
		code = exitFail
	}
	return code
}

// showCommand shows a server's command line with what may be a secret in
// it hidden: URLs lose their user info and query, and the value after or
// in a flag or KEY=VALUE whose name says token, key, secret, password or
// auth is replaced by "…".
func showCommand(cmd string, args []string) string {
	out := []string{cmd}
	hideNext := false
	for _, a := range args {
		switch {
		case hideNext:
			a, hideNext = "…", false
		case strings.Contains(a, "://"):
			a = redact.URL(a)
		case secretName(a) && strings.Contains(a, "="):
			k, _, _ := strings.Cut(a, "=")
			a = k + "=…"
		case strings.HasPrefix(a, "-") && secretName(a):
			hideNext = true
		}
		out = append(out, a)
	}
	return strings.Join(out, " ")
}

func secretName(s string) bool {
	if k, _, ok := strings.Cut(s, "="); ok {
		s = k
	}
	s = strings.ToLower(s)
	for _, w := range []string{"token", "key", "secret", "password", "passwd", "auth", "credential", "bearer"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
