package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/scan"
)

const scanUsage = `Usage:
  tollgate scan [flags] -- COMMAND [ARGS...]          scan a stdio server (started, then stopped)
  tollgate scan [flags] --upstream URL [--header "K: V"]...
                                                      scan an HTTP server (streamable HTTP, or legacy
                                                      HTTP+SSE at its …/sse URL)
  tollgate scan [flags] --tools-file tools.json       scan a saved tools/list result
  tollgate scan --diff OLD.json NEW.json [--format text|md|json]
                                                      compare two --format json scans

Lists every tool the server offers (all pages), classifies each as Read, Write,
Execute, Financial or Destructive with a risk level from 1 (Low) to 5 (Critical),
finds risk signals in its input schema, and writes one of:

  yaml  a policy scaffold that loads unchanged: Read allowed, Write and Execute
        rate limited, Financial behind approval, Destructive denied (default)
  json  machine-readable results (the input of --diff)
  md    a Markdown report
  html  a self-contained HTML report with a risk chart and a filter box

Exit status: 0 success; 1 when --fail-on finds a tool at or above the level,
or --diff finds changes; 2 on bad usage or when the scan cannot complete
(server unreachable, server error, bad tools file).

Examples:
  tollgate scan -- npx -y @modelcontextprotocol/server-filesystem /tmp > policy.yaml
  tollgate scan --format html -o report.html --upstream https://mcp.example.com/mcp \
      --header "Authorization: Bearer $TOKEN"
  tollgate scan --format json --fail-on high --tools-file tools.json > today.json
  tollgate scan --diff yesterday.json today.json

Flags:
`

type headerFlag []string

func (h *headerFlag) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlag) Set(v string) error { *h = append(*h, v); return nil }

func runScan(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("tollgate scan", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, scanUsage)
		fs.PrintDefaults()
	}
	var (
		format    = fs.String("format", "", "output format: yaml, json, md or html (with --diff: text, md or json)")
		output    = fs.String("o", "", "write the output to `FILE` instead of stdout")
		upstream  = fs.String("upstream", "", "streamable HTTP server `URL` to scan")
		toolsFile = fs.String("tools-file", "", "scan a saved tools/list result (`FILE`) instead of a server")
		failOn    = fs.String("fail-on", "", "exit 1 if a tool is at or above this risk: critical, high or medium")
		timeout   = fs.Duration("timeout", 30*time.Second, "give up on the server after this long")
		diff      = fs.Bool("diff", false, "compare two JSON scans: tollgate scan --diff OLD.json NEW.json")
		verbose   = fs.Bool("v", false, "show progress and the server's stderr")
		headers   headerFlag
	)
	fs.StringVar(output, "output", "", "same as -o")
	fs.Var(&headers, "header", "HTTP header `K: V` for --upstream (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(e.stderr, "tollgate scan: "+format+"\n", args...)
		return exitUsage
	}

	if *diff {
		return runScanDiff(e, fs.Args(), *format, *output)
	}

	threshold := 0
	switch strings.ToLower(*failOn) {
	case "":
	case "critical":
		threshold = 5
	case "high":
		threshold = 4
	case "medium":
		threshold = 3
	default:
		return fail("--fail-on %q: want critical, high or medium", *failOn)
	}
	if *format == "" {
		*format = "yaml"
	}
	switch *format {
	case "yaml", "json", "md", "html":
	default:
		return fail("--format %q: want yaml, json, md or html", *format)
	}

	command := fs.Args()
	sources := 0
	for _, set := range []bool{len(command) > 0, *upstream != "", *toolsFile != ""} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		return fail("nothing to scan: give -- COMMAND [ARGS...], --upstream URL or --tools-file FILE (see --help)")
	case sources > 1:
		return fail("give only one of -- COMMAND, --upstream and --tools-file")
	case len(headers) > 0 && *upstream == "":
		return fail("--header applies to --upstream only")
	}
	header := http.Header{}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return fail("--header %q: want \"Name: value\"", redactHeader(h))
		}
		header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}

	ctx, cancel := context.WithTimeoutCause(ctx, *timeout, fmt.Errorf("timed out after %s (raise --timeout for slow servers)", *timeout))
	defer cancel()
	prog := newProgress(e.stderr, *verbose)
	defer prog.stop()
	opts := scan.Options{ClientName: "tollgate-scan", ClientVersion: Version, Progress: prog.report}

	var inv scan.Inventory
	var err error
	switch {
	case *toolsFile != "":
		var data []byte
		data, err = os.ReadFile(*toolsFile)
		if err == nil {
			var tools []scan.Tool
			tools, err = scan.ParseToolsFile(data)
			inv = scan.Inventory{Server: scan.Server{Source: "file: " + *toolsFile}, Tools: tools}
		}
		if err != nil {
			err = fmt.Errorf("%s: %w", *toolsFile, err)
		}
	case *upstream != "":
		prog.start("waiting for " + *upstream)
		inv, err = scan.FetchHTTP(ctx, *upstream, header, nil, opts)
	default:
		prog.start("waiting for " + command[0])
		var childErr io.Writer
		if *verbose {
			childErr = e.stderr
		}
		inv, err = scan.FetchStdio(ctx, command, childErr, opts)
	}
	prog.stop()
	if err != nil {
		return fail("%v", err)
	}

	report := scan.Analyze(inv)
	var buf bytes.Buffer
	switch *format {
	case "yaml":
		err = report.WriteScaffold(&buf)
	case "json":
		err = report.WriteJSON(&buf)
	case "md":
		err = report.WriteMarkdown(&buf)
	case "html":
		err = report.WriteHTML(&buf)
	}
	if err != nil {
		return fail("render %s: %v", *format, err)
	}
	if err := writeOutput(e, *output, buf.Bytes()); err != nil {
		return fail("%v", err)
	}
	if threshold > 0 && report.MaxRisk() >= threshold {
		n := 0
		for _, t := range report.Tools {
			if t.Risk.Level >= threshold {
				n++
			}
		}
		fmt.Fprintf(e.stderr, "tollgate scan: %d tool(s) at or above risk %d (%s)\n", n, threshold, scan.RiskLabel(threshold))
		return exitFail
	}
	return exitOK
}

func runScanDiff(e env, files []string, format, output string) int {
	if len(files) != 2 {
		fmt.Fprintln(e.stderr, "tollgate scan: --diff needs two files: tollgate scan --diff OLD.json NEW.json")
		return exitUsage
	}
	var reports [2]*scan.Report
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err == nil {
			reports[i], err = scan.ReadReport(data)
		}
		if err != nil {
			fmt.Fprintf(e.stderr, "tollgate scan: %s: %v (want the output of tollgate scan --format json)\n", f, err)
			return exitUsage
		}
	}
	d := scan.Compare(reports[0], reports[1])
	var buf bytes.Buffer
	var err error
	switch format {
	case "", "text":
		err = d.WriteText(&buf)
	case "md":
		err = d.WriteMarkdown(&buf)
	case "json":
		err = d.WriteJSON(&buf)
	default:
		fmt.Fprintf(e.stderr, "tollgate scan: --diff --format %q: want text, md or json\n", format)
		return exitUsage
	}
	if err == nil {
		err = writeOutput(e, output, buf.Bytes())
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate scan: %v\n", err)
		return exitUsage
	}
	if d.Changed() {
		return exitFail
	}
	return exitOK
}

func writeOutput(e env, file string, data []byte) error {
	if file == "" || file == "-" {
		_, err := e.stdout.Write(data)
		return err
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// redactHeader keeps a header's name for an error message, never its value.
func redactHeader(h string) string {
	if k, _, ok := strings.Cut(h, ":"); ok {
		return k + ": …"
	}
	if len(h) > 20 {
		return h[:20] + "…"
	}
	return h
}

// progress reports on stderr what a scan is doing, but only once it has
// taken long enough to be worth reporting (or always with -v).
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	verbose bool
	began   time.Time
	timer   *time.Timer
	slow    bool
	last    string
	stopped bool
}

const slowAfter = time.Second

func newProgress(w io.Writer, verbose bool) *progress {
	return &progress{w: w, verbose: verbose, began: time.Now()}
}

// start arms the "still waiting" message.
func (p *progress) start(waiting string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timer = time.AfterFunc(slowAfter, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.stopped {
			return
		}
		p.slow = true
		msg := waiting
		if p.last != "" {
			msg = p.last
		}
		fmt.Fprintf(p.w, "tollgate scan: %s…\n", msg)
	})
}

func (p *progress) report(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = msg
	if p.stopped {
		return
	}
	if p.verbose || p.slow {
		fmt.Fprintf(p.w, "tollgate scan: %s\n", msg)
	}
}

func (p *progress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	if p.timer != nil {
		p.timer.Stop()
	}
}
