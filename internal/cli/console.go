package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval/approvalopen"
	"github.com/tollgate-mcp/tollgate/internal/console"
	"github.com/tollgate-mcp/tollgate/internal/pins"
	"github.com/tollgate-mcp/tollgate/internal/redact"
	"github.com/tollgate-mcp/tollgate/internal/scan"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
	"github.com/tollgate-mcp/tollgate/internal/state/stateopen"
)

const consoleUsage = `Usage: tollgate console [-c policy.yaml ...] [--scan report.json] [--addr 127.0.0.1:PORT] [flags]

Serves a local web console on loopback: live decisions from the audit trail,
the approvals queue (approve with your approver name and passphrase, or
deny with a reason), changed tool definitions (pins: approve, signed with
the same key, or reject), each tool's rule written back to the policy file
(the proxies reload it), the scan report and what each counter has used.

It prints a link holding a one-time token; the first visit exchanges it for
a session cookie. --state, --state-dir, --state-prefix and --audit-dir mean
what they mean for tollgate run. See docs/console.md.

Flags:
`

// policyPaths is -c: repeatable, each a file or a directory of *.yaml and
// *.yml files.
type policyPaths []string

func (p *policyPaths) String() string     { return strings.Join(*p, ",") }
func (p *policyPaths) Set(v string) error { *p = append(*p, v); return nil }

func (p policyPaths) files() ([]string, error) {
	var out []string
	for _, path := range p {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", path, err)
		}
		if !fi.IsDir() {
			out = append(out, path)
			continue
		}
		ents, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("policy directory %s: %w", path, err)
		}
		var found []string
		for _, e := range ents {
			if n := e.Name(); !e.IsDir() && !strings.HasPrefix(n, ".") && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				found = append(found, filepath.Join(path, n))
			}
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

func runConsole(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("tollgate console", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, consoleUsage)
		fs.PrintDefaults()
	}
	var sf stateFlags
	sf.register(fs)
	var policies policyPaths
	fs.Var(&policies, "c", "policy file or directory to show and edit (repeatable); its approvals.approvers say whose key counts")
	fs.Var(&policies, "config", "same as -c")
	auditFlag := fs.String("audit-dir", "", "the audit directory (default <state-dir>/audit; off for none)")
	addr := fs.String("addr", "127.0.0.1:0", "loopback address to serve on (port 0: a free one)")
	scanFile := fs.String("scan", "", "a scan report (tollgate scan --format json) for the tool list and the scan page")
	open := fs.Bool("open", false, "open the console in a browser (xdg-open)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(e.stderr, "tollgate console: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if !console.Loopback(*addr) {
		fmt.Fprintf(e.stderr, "tollgate console: --addr %s is not a loopback address: the console serves this machine only (127.0.0.1 or [::1])\n", *addr)
		return exitUsage
	}
	if sf.state == "memory" {
		fmt.Fprintln(e.stderr, "tollgate console: --state memory lives inside one proxy process; give the store the proxies share (the default SQLite file, sqlite://... or redis://...)")
		return exitUsage
	}
	files, err := policies.files()
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate console: %v\n", err)
		return exitUsage
	}
	var report *scan.Report
	if *scanFile != "" {
		data, err := os.ReadFile(*scanFile)
		if err == nil {
			report = new(scan.Report)
			err = json.Unmarshal(data, report)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate console: read the scan report: %v\n", err)
			return exitUsage
		}
	}
	auditDir := ""
	if *auditFlag != "off" {
		dirs := auditDirFlags{audit: *auditFlag, stateDir: sf.stateDir}
		if auditDir, err = dirs.dir(); err != nil {
			fmt.Fprintf(e.stderr, "tollgate console: %v\n", err)
			return exitUsage
		}
	}
	store, err := approvalopen.Open(ctx, sf.state, approvalopen.Options{StateDir: sf.stateDir, Prefix: sf.prefix})
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate console: %v\n", err)
		return exitFail
	}
	defer store.Close()
	usage, note, closeUsage, err := consoleUsageReader(ctx, &sf)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate console: %v\n", err)
		return exitFail
	}
	defer closeUsage()
	b, err := sf.backend(ctx)
	defer sf.closeBackend()
	var pinStore *pins.Store
	if err == nil {
		pinStore, err = b.Pins(ctx)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate console: %v\n", err)
		return exitFail
	}

	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := console.New(console.Config{Approvals: store, Usage: usage, UsageNote: note, AuditDir: auditDir,
		Policies: files, Pins: pinStore, Scan: report, Logger: log})
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate console: %v\n", err)
		return exitFail
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate console: %v\n", err)
		return exitFail
	}
	link := fmt.Sprintf("http://%s/?token=%s", ln.Addr(), srv.Token())
	fmt.Fprintf(e.stdout, "Tollgate console: %s\n", link)
	fmt.Fprintln(e.stderr, "The link works once, in one browser. Stop the console with Ctrl-C.")
	if *open {
		// The token is in the command line of xdg-open for a moment; it is
		// spent by the first visit, which is the browser's.
		if err := exec.Command("xdg-open", link).Start(); err != nil {
			fmt.Fprintf(e.stderr, "tollgate console: could not open a browser (%v); open the link yourself\n", err)
		}
	}
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintf(e.stderr, "tollgate console: %v\n", err)
		return exitFail
	}
	return exitOK
}

// consoleUsageReader reads counter usage from the store the flags name,
// over a handle of its own: the SQLite file, or the Redis under the prefix.
func consoleUsageReader(ctx context.Context, sf *stateFlags) (console.UsageFunc, string, func(), error) {
	none := func() {}
	var path string
	switch {
	case sf.state == "":
		dir := sf.stateDir
		if dir == "" {
			var err error
			if dir, err = state.DefaultDir(); err != nil {
				return nil, "", none, err
			}
		}
		path = filepath.Join(dir, "state.db")
	case strings.HasPrefix(sf.state, "sqlite://"):
		path = strings.TrimPrefix(sf.state, "sqlite://")
	default:
		// stateFlags accepts nothing else once memory is refused: Redis.
		rs, err := redisstore.Open(ctx, sf.state, redisstore.Options{Prefix: sf.prefix})
		if err != nil {
			return nil, "", none, redact.Error(err, sf.state)
		}
		return rs.Usage, "", func() { rs.Close() }, nil
	}
	if err := stateopen.PrivateFile(path); err != nil {
		return nil, "", none, err
	}
	db, err := sqlitestore.OpenDB(path, sqlitestore.Options{})
	if err != nil {
		return nil, "", none, err
	}
	read := func(ctx context.Context, now time.Time) ([]state.CounterUsage, error) {
		return sqlitestore.ReadUsage(ctx, db, now)
	}
	return read, "", func() { db.Close() }, nil
}
