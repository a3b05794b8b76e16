package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/scan"
)

// initExecuteRate is the starting limit on each Execute tool, per minute.
const initExecuteRate = 30

// initPolicy writes the starting policy init gives a scanned server:
// Destructive and Financial tools need a person's approval, Execute tools
// are rate limited, Read tools are allowed, and Write tools are left to the
// default (allow), listed in a comment for review. Everything the server
// said (names, descriptions) is untrusted: names are quoted, text is kept
// to one comment line. Nothing from the client's config but the server's
// name goes in: no arguments, environment or headers.
func initPolicy(r *scan.Report, client, server string) string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# Tollgate policy for the MCP server %s in %s, written by `tollgate init`\n", oneLineComment(server), oneLineComment(client))
	p("# from a scan of its %d tools:", r.Summary.Total)
	for i, c := range scan.Categories {
		sep := ","
		if i == 0 {
			sep = ""
		}
		p("%s %d %s", sep, r.Summary.ByCategory.Get(c), c)
	}
	p(".\n#\n")
	p("# Destructive and Financial tools need a person's approval (tollgate approvals),\n")
	p("# Execute tools are limited to %d calls a minute, Read tools are allowed, and\n", initExecuteRate)
	p("# Write tools are left to the default. Categories come from what the server\n")
	p("# says about its tools: review them, then check with `tollgate validate`.\n")
	p("version: \"1\"\n")
	p("description: %s\n", yamlQuote("Starting policy for "+server+" ("+client+", tollgate init)"))
	p("# Set to \"deny\" to reject calls to tools not listed below.\n")
	p("default: allow\n")
	var writes []string
	for _, t := range r.Tools {
		if t.Category == scan.Write {
			writes = append(writes, t.Name)
		}
	}
	if len(r.Tools) == len(writes) {
		p("tools: {}\n")
	} else {
		p("tools:\n")
	}
	for _, c := range []scan.Category{scan.Destructive, scan.Financial, scan.Execute, scan.Read} {
		for _, t := range r.Tools {
			if t.Category != c {
				continue
			}
			p("\n  # %s: %s (risk %d/5)\n", oneLineComment(t.Name), c, t.Risk.Level)
			if d := oneLineComment(t.Description); d != "" {
				p("  #   %s\n", truncateRunes(d, 160))
			}
			p("  %s:\n", yamlQuote(t.Name))
			switch c {
			case scan.Destructive, scan.Financial:
				why := "is destructive"
				if c == scan.Financial {
					why = "moves money or commits to spending"
				}
				p("    rules:\n")
				p("      - name: %s\n", yamlQuote("approve "+t.Name))
				p("        action: require_approval\n")
				p("        on_deny: %s\n", yamlQuote(t.Name+" "+why+" and needs a person's approval"))
			case scan.Execute:
				p("    rules:\n")
				p("      - name: %s\n", yamlQuote(t.Name+" rate limit"))
				p("        rate_limit: {max: %d, window: 60}\n", initExecuteRate)
				p("        on_deny: %s\n", yamlQuote(fmt.Sprintf("Rate limit: at most %d %s calls per minute", initExecuteRate, t.Name)))
			default:
				p("    rules: []\n")
			}
		}
	}
	if len(writes) > 0 {
		p("\n# Write tools, left to the default (allowed): consider a rate limit for each.\n")
		for _, w := range writes {
			p("#   %s\n", oneLineComment(w))
		}
	}
	return b.String()
}

// unscannedPolicy is what a server that could not be scanned gets: every
// call allowed (and audited), so guarding it changes nothing the user
// relies on, with a comment saying how to make a real policy.
func unscannedPolicy(client, server string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Tollgate policy for the MCP server %s in %s, written by `tollgate init`.\n", oneLineComment(server), oneLineComment(client))
	b.WriteString("# The server could not be scanned, so this policy allows every call; Tollgate\n")
	b.WriteString("# still records each one in the audit trail. Once the server starts, run\n")
	b.WriteString("# `tollgate scan -- COMMAND ARGS...` for a scaffold, or edit this file.\n")
	b.WriteString("version: \"1\"\n")
	fmt.Fprintf(&b, "description: %s\n", yamlQuote("Allow-all policy for "+server+" ("+client+", tollgate init; not scanned)"))
	b.WriteString("default: allow\n")
	b.WriteString("tools: {}\n")
	return b.String()
}

// yamlQuote writes s as a double-quoted YAML scalar (a JSON string is one).
func yamlQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// oneLineComment makes untrusted text safe on a comment line.
func oneLineComment(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085' || r == '\t' || r == ' '
	}), " ")
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

var unsafeFileChars = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^a-z0-9._-]+`) })

// policyFileName is <client>-<server>.yaml, with the server's name made
// safe for a file name. A name that had to be changed, or an entry that
// belongs to one project, gets a short hash of what identifies it, so two
// entries never share a file.
func policyFileName(client, server, scope string) string {
	safe := strings.Trim(unsafeFileChars().ReplaceAllString(strings.ToLower(server), "-"), "-.")
	if len(safe) > 48 {
		safe = safe[:48]
	}
	if safe == "" {
		safe = "server"
	}
	name := client + "-" + safe
	if safe != server || scope != "" {
		h := sha256.Sum256([]byte(server + "\x00" + scope))
		name += "-" + hex.EncodeToString(h[:4])
	}
	return name + ".yaml"
}
