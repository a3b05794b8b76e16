package scan

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the report for people: a summary (tools per category
// and per risk level, riskiest first), then one entry per tool, riskiest
// first.
func (r *Report) WriteMarkdown(w io.Writer) error {
	b := bufio.NewWriter(w)
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("# Tollgate scan: %s\n\n", mdText(serverTitle(r.Server)))
	if r.Server.Source != "" {
		p("Source: %s", mdCode(r.Server.Source))
		if r.Server.ProtocolVersion != "" {
			p(" · MCP %s", mdText(r.Server.ProtocolVersion))
		}
		p("\n\n")
	}
	p("## Summary\n\n%d tools.\n\n", r.Summary.Total)
	p("| Category | Tools | Starting rule |\n|---|---:|---|\n")
	for _, c := range Categories {
		p("| %s | %d | %s |\n", c, r.Summary.ByCategory.Get(c), planOf(c))
	}
	p("\n| Risk | Tools |\n|---|---:|\n")
	for level := 5; level >= 1; level-- {
		p("| %d %s | %d |\n", level, RiskLabel(level), r.Summary.ByRisk.Get(level))
	}
	p("\n## Tools\n")
	for _, a := range r.riskiestFirst() {
		p("\n### %s\n\n", mdText(a.Name))
		p("- **Category:** %s\n", a.Category)
		p("- **Risk:** %d/5 %s\n", a.Risk.Level, a.Risk.Label)
		p("- **Reason:** %s\n", mdText(a.Reason))
		if a.Description != "" {
			p("- **Description:** %s\n", mdText(truncate(oneLine(a.Description), 500)))
		}
		if len(a.Signals) > 0 {
			p("- **Signals:**\n")
			for _, s := range a.Signals {
				p("  - %s", mdText(s.Description))
				if len(s.Paths) > 0 {
					shown := s.Paths[:min(len(s.Paths), 8)]
					codes := make([]string, len(shown))
					for i, x := range shown {
						codes[i] = mdCode(x)
					}
					p(": %s", strings.Join(codes, ", "))
					if len(s.Paths) > len(shown) {
						p(" and %d more", len(s.Paths)-len(shown))
					}
				}
				p("\n")
			}
		}
		p("- **Suggested rule:**\n\n")
		p("  ```yaml\n")
		for _, line := range suggestedYAML(a) {
			p("  %s\n", line)
		}
		p("  ```\n")
	}
	return b.Flush()
}

// suggestedYAML renders a tool's suggested policy entry.
func suggestedYAML(a *Assessment) []string {
	lines := []string{yamlKey(a.Name) + ":"}
	if len(a.SuggestedRule.Rules) == 0 {
		return append(lines, "  rules: []")
	}
	lines = append(lines, "  rules:")
	for _, r := range a.SuggestedRule.Rules {
		for _, l := range ruleYAML(r) {
			lines = append(lines, "    "+l)
		}
	}
	return lines
}

func serverTitle(s Server) string {
	name := cmpOr(s.Title, s.Name)
	if name == "" {
		name = cmpOr(s.Source, "MCP server")
	}
	if s.Version != "" {
		name += " " + s.Version
	}
	return name
}

// mdText escapes untrusted text for Markdown: no markup, no HTML, no links.
func mdText(s string) string {
	s = oneLine(s)
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '`', '*', '_', '{', '}', '[', ']', '(', ')', '#', '+', '!', '|', '<', '>', '&', '~':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCode writes s as inline code, with a fence longer than any run of
// backticks inside it.
func mdCode(s string) string {
	s = oneLine(s)
	fence := "`"
	for strings.Contains(s, fence) {
		fence += "`"
	}
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return fence + pad + s + pad + fence
}
