package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

const explainUsage = `Usage: tollgate explain -c policy.yaml --tool NAME [--args JSON] [flags]
       tollgate explain -c policy.yaml --request METHOD [--args PARAMS] [flags]

Shows how the policy decides one call: the tools key that matched, every
rule considered, each condition with the argument's value and whether it
held, the counters the call would reserve, and the final decision.
Counters are not consulted: a call that reserves counters is allowed only
if they have room. With --request, the same for a client request the
policy's requests section judges (resources/read, prompts/get,
resources/subscribe, completion/complete), --args being its params.

Flags:
`

func runExplain(ctx context.Context, e env, args []string) int {
	fs := flag.NewFlagSet("tollgate explain", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprint(e.stderr, explainUsage)
		fs.PrintDefaults()
	}
	var config, tool, request, argsJSON, identity, session string
	var asJSON bool
	fs.StringVar(&config, "c", "", "policy file (required)")
	fs.StringVar(&config, "config", "", "policy file (same as -c)")
	fs.StringVar(&tool, "tool", "", "tool name (required)")
	fs.StringVar(&request, "request", "", "a client request to explain instead of a tool call: resources/read, prompts/get, resources/subscribe or completion/complete")
	fs.StringVar(&argsJSON, "args", "{}", "the call's arguments (a request's params), a JSON object")
	fs.StringVar(&identity, "identity", "", "the caller's identity, for per: identity counters")
	fs.StringVar(&session, "session", "explain", "the session id, for per: session counters")
	fs.BoolVar(&asJSON, "json", false, "print the explanation as JSON")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if config == "" || (tool == "") == (request == "") || fs.NArg() > 0 {
		fmt.Fprintln(e.stderr, "tollgate explain: -c policy.yaml and one of --tool NAME or --request METHOD are required, e.g. tollgate explain -c policy.yaml --tool send_email --args '{\"to\":\"a@example.com\"}'")
		return exitUsage
	}
	if request != "" && !slices.Contains(policy.RequestMethods, request) {
		fmt.Fprintf(e.stderr, "tollgate explain: --request must be one of %s, not %q\n", strings.Join(policy.RequestMethods, ", "), request)
		return exitUsage
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(argsJSON), &obj); err != nil || obj == nil {
		fmt.Fprintf(e.stderr, "tollgate explain: --args must be a JSON object: %v\n", err)
		return exitUsage
	}
	p, err := policy.LoadFile(config)
	if err != nil {
		fmt.Fprintf(e.stderr, "tollgate explain: %v\n", err)
		return exitFail
	}
	if request != "" {
		call := &policy.Call{Tool: request, Args: []byte(argsJSON), Session: session, Identity: identity, Now: time.Now()}
		d, steps, governed := p.ExplainRequest(call)
		if !governed {
			steps = []policy.Step{{Kind: "default", Note: "no requests entry governs " + request + ": it goes to the server as it came"}}
		}
		if asJSON {
			return printExplainJSON(e.stdout, config, p, request, d, steps)
		}
		printExplain(e.stdout, config, p, "request:", request, compactJSON(argsJSON), d, steps)
		return exitOK
	}
	call := &policy.Call{Tool: tool, Args: []byte(argsJSON), Session: session, Identity: identity, Now: time.Now()}
	d, steps := p.Explain(call)
	if asJSON {
		return printExplainJSON(e.stdout, config, p, tool, d, steps)
	}
	printExplain(e.stdout, config, p, "tool:   ", tool, compactJSON(argsJSON), d, steps)
	return exitOK
}

func compactJSON(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return s
	}
	return b.String()
}

// printExplain prints an explanation; label names what was decided ("tool:   "
// or "request:"), name the tool or the request's method.
func printExplain(w io.Writer, config string, p *policy.Policy, label, name, args string, d policy.Decision, steps []policy.Step) {
	fmt.Fprintf(w, "policy:  %s (revision %s)\n", config, shortRev(p.Revision()))
	fmt.Fprintf(w, "%s %s\n", label, name)
	fmt.Fprintf(w, "args:    %s\n\n", args)
	rule := "\x00"
	for _, s := range steps {
		if s.Rule != rule && s.Rule != "" {
			fmt.Fprintf(w, "rule %q\n", s.Rule)
		}
		rule = s.Rule
		indent := "  "
		if s.Rule == "" {
			indent = ""
		}
		switch s.Kind {
		case "condition":
			line := indent + "condition " + s.Path + " " + s.Op + " " + s.Expected
			if s.Path == "" {
				line = indent + "arguments"
			}
			if s.Value != "" {
				line += "   value " + s.Value
			}
			if s.Held {
				line += "   holds"
			} else {
				line += "   does not hold"
			}
			if s.Note != "" {
				line += " (" + s.Note + ")"
			}
			fmt.Fprintln(w, line)
		case "deny", "approval":
			what := "deny rule"
			if s.Kind == "approval" {
				what = "approval rule"
			}
			if s.Held {
				fmt.Fprintf(w, "%s→ %s fires\n", indent, what)
			} else {
				fmt.Fprintf(w, "%s→ %s does not fire\n", indent, what)
			}
		case "validate":
			if s.Held {
				fmt.Fprintf(w, "%svalidate: required arguments present\n", indent)
			} else {
				fmt.Fprintf(w, "%svalidate: %s\n", indent, s.Note)
			}
		case "charge":
			fmt.Fprintf(w, "%scounter: %s\n", indent, s.Note)
		default: // hidden, default
			fmt.Fprintf(w, "%s%s\n", indent, s.Note)
		}
	}
	fmt.Fprintln(w)
	action := d.Action.String()
	if d.Monitor {
		action += " (monitor mode: recorded, not enforced; the call is forwarded)"
	}
	fmt.Fprintf(w, "decision: %s\n", action)
	if d.Hidden {
		fmt.Fprintln(w, "  the tool is hidden: the call is answered as the server answers an unknown tool")
	}
	if d.Rule != "" {
		fmt.Fprintf(w, "rule:     %s\n", d.Rule)
	}
	if d.Reason != "" && !d.Hidden {
		fmt.Fprintf(w, "reason:   %s\n", d.Reason)
	}
	if len(d.Charges) > 0 && (d.Action != policy.Deny || d.Monitor) {
		fmt.Fprintln(w, "counters: reserved when the call goes through; it is denied if one has no room:")
		for _, c := range d.Charges {
			fmt.Fprintf(w, "  %s +%s (rule %q)\n", c.Key, c.Amount.Text('f'), c.Rule)
		}
	}
}

func printExplainJSON(w io.Writer, config string, p *policy.Policy, tool string, d policy.Decision, steps []policy.Step) int {
	type step struct {
		Kind     string `json:"kind"`
		Rule     string `json:"rule,omitempty"`
		Path     string `json:"path,omitempty"`
		Op       string `json:"op,omitempty"`
		Expected string `json:"expected,omitempty"`
		Value    string `json:"value,omitempty"`
		Held     bool   `json:"held"`
		Note     string `json:"note,omitempty"`
	}
	type charge struct {
		Counter string `json:"counter"`
		Amount  string `json:"amount"`
		Rule    string `json:"rule"`
	}
	out := struct {
		Policy   string   `json:"policy"`
		Revision string   `json:"revision"`
		Tool     string   `json:"tool"`
		Decision string   `json:"decision"`
		Monitor  bool     `json:"monitor,omitempty"`
		Hidden   bool     `json:"hidden,omitempty"`
		Rule     string   `json:"rule,omitempty"`
		Reason   string   `json:"reason,omitempty"`
		Steps    []step   `json:"steps"`
		Charges  []charge `json:"charges,omitempty"`
	}{Policy: config, Revision: p.Revision(), Tool: tool, Decision: d.Action.String(), Monitor: d.Monitor,
		Hidden: d.Hidden, Rule: d.Rule, Reason: d.Reason, Steps: []step{}}
	for _, s := range steps {
		out.Steps = append(out.Steps, step(s))
	}
	for _, c := range d.Charges {
		out.Charges = append(out.Charges, charge{Counter: c.Key.String(), Amount: c.Amount.Text('f'), Rule: c.Rule})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return exitFail
	}
	return exitOK
}

func shortRev(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
