package scan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
)

// Diff is what changed between two scans of a server.
type Diff struct {
	Old     Server       `json:"old"`
	New     Server       `json:"new"`
	Added   []DiffTool   `json:"added"`
	Removed []DiffTool   `json:"removed"`
	Changes []ToolChange `json:"changed"`
}

// DiffTool names a tool added or removed.
type DiffTool struct {
	Name     string   `json:"name"`
	Category Category `json:"category"`
	Risk     Risk     `json:"risk"`
}

// ToolChange is a tool present in both scans whose description or input
// schema changed (or that is now classified differently).
type ToolChange struct {
	Name               string   `json:"name"`
	DescriptionChanged bool     `json:"description_changed"`
	SchemaChanged      bool     `json:"schema_changed"`
	OldDescription     string   `json:"old_description,omitempty"`
	NewDescription     string   `json:"new_description,omitempty"`
	OldCategory        Category `json:"old_category"`
	NewCategory        Category `json:"new_category"`
	OldRisk            Risk     `json:"old_risk"`
	NewRisk            Risk     `json:"new_risk"`
}

// Changed reports whether anything differs.
func (d *Diff) Changed() bool {
	return len(d.Added)+len(d.Removed)+len(d.Changes) > 0
}

// Compare lists the tools added to, removed from and changed between two
// scans, each list sorted by name.
func Compare(older, newer *Report) *Diff {
	d := &Diff{Old: older.Server, New: newer.Server, Added: []DiffTool{}, Removed: []DiffTool{}, Changes: []ToolChange{}}
	before := map[string]*Assessment{}
	for i := range older.Tools {
		before[older.Tools[i].Name] = &older.Tools[i]
	}
	after := map[string]*Assessment{}
	for i := range newer.Tools {
		after[newer.Tools[i].Name] = &newer.Tools[i]
	}
	for _, n := range sortedNames(after) {
		a := after[n]
		o, ok := before[n]
		if !ok {
			d.Added = append(d.Added, DiffTool{Name: n, Category: a.Category, Risk: a.Risk})
			continue
		}
		c := ToolChange{
			Name:               n,
			DescriptionChanged: o.Description != a.Description,
			SchemaChanged:      o.InputSchemaSHA256 != a.InputSchemaSHA256,
			OldCategory:        o.Category, NewCategory: a.Category,
			OldRisk: o.Risk, NewRisk: a.Risk,
		}
		if c.DescriptionChanged {
			c.OldDescription, c.NewDescription = o.Description, a.Description
		}
		if c.DescriptionChanged || c.SchemaChanged || o.Category != a.Category || o.Risk != a.Risk {
			d.Changes = append(d.Changes, c)
		}
	}
	for _, n := range sortedNames(before) {
		if _, ok := after[n]; !ok {
			o := before[n]
			d.Removed = append(d.Removed, DiffTool{Name: n, Category: o.Category, Risk: o.Risk})
		}
	}
	return d
}

func sortedNames(m map[string]*Assessment) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// WriteJSON writes the diff as indented JSON.
func (d *Diff) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(d)
}

// WriteText writes the diff for a terminal, one tool per line.
func (d *Diff) WriteText(w io.Writer) error {
	b := bufio.NewWriter(w)
	if !d.Changed() {
		fmt.Fprintln(b, "no changes")
		return b.Flush()
	}
	for _, t := range d.Added {
		fmt.Fprintf(b, "+ %s  added: %s, risk %d/5 %s\n", oneLine(t.Name), t.Category, t.Risk.Level, t.Risk.Label)
	}
	for _, t := range d.Removed {
		fmt.Fprintf(b, "- %s  removed (was %s, risk %d/5)\n", oneLine(t.Name), t.Category, t.Risk.Level)
	}
	for _, c := range d.Changes {
		fmt.Fprintf(b, "~ %s  %s\n", oneLine(c.Name), c.summary())
	}
	fmt.Fprintf(b, "%d added, %d removed, %d changed\n", len(d.Added), len(d.Removed), len(d.Changes))
	return b.Flush()
}

// WriteMarkdown writes the diff as a Markdown list.
func (d *Diff) WriteMarkdown(w io.Writer) error {
	b := bufio.NewWriter(w)
	fmt.Fprintf(b, "# Tollgate scan diff\n\n%d added, %d removed, %d changed.\n", len(d.Added), len(d.Removed), len(d.Changes))
	if len(d.Added) > 0 {
		fmt.Fprintf(b, "\n## Added\n\n")
		for _, t := range d.Added {
			fmt.Fprintf(b, "- %s: %s, risk %d/5 %s\n", mdCode(t.Name), t.Category, t.Risk.Level, t.Risk.Label)
		}
	}
	if len(d.Removed) > 0 {
		fmt.Fprintf(b, "\n## Removed\n\n")
		for _, t := range d.Removed {
			fmt.Fprintf(b, "- %s (was %s, risk %d/5)\n", mdCode(t.Name), t.Category, t.Risk.Level)
		}
	}
	if len(d.Changes) > 0 {
		fmt.Fprintf(b, "\n## Changed\n\n")
		for _, c := range d.Changes {
			fmt.Fprintf(b, "- %s: %s\n", mdCode(c.Name), mdText(c.summary()))
		}
	}
	return b.Flush()
}

func (c *ToolChange) summary() string {
	var parts []string
	if c.DescriptionChanged {
		parts = append(parts, "description changed")
	}
	if c.SchemaChanged {
		parts = append(parts, "input schema changed")
	}
	if c.OldCategory != c.NewCategory || c.OldRisk != c.NewRisk {
		parts = append(parts, fmt.Sprintf("now %s, risk %d/5 (was %s, risk %d/5)", c.NewCategory, c.NewRisk.Level, c.OldCategory, c.OldRisk.Level))
	}
	if len(parts) == 0 {
		return "changed"
	}
	s := parts[0]
	for _, p := range parts[1:] {
		s += "; " + p
	}
	return s
}
