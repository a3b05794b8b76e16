package scan

import (
	"cmp"
	"encoding/json"
	"io"
	"slices"
)

// Report is the result of a scan: the JSON output format.
type Report struct {
	Server  Server       `json:"server"`
	Summary Summary      `json:"summary"`
	Tools   []Assessment `json:"tools"`
}

// Summary counts tools per category and per risk level.
type Summary struct {
	Total      int            `json:"total"`
	ByCategory CategoryCounts `json:"by_category"`
	ByRisk     RiskCounts     `json:"by_risk"`
}

// CategoryCounts lists categories riskiest first.
type CategoryCounts struct {
	Destructive int `json:"Destructive"`
	Financial   int `json:"Financial"`
	Execute     int `json:"Execute"`
	Write       int `json:"Write"`
	Read        int `json:"Read"`
}

// Get returns the count for c.
func (c CategoryCounts) Get(cat Category) int {
	switch cat {
	case Destructive:
		return c.Destructive
	case Financial:
		return c.Financial
	case Execute:
		return c.Execute
	case Write:
		return c.Write
	case Read:
		return c.Read
	}
	return 0
}

// RiskCounts lists risk levels highest first.
type RiskCounts struct {
	L5 int `json:"5"`
	L4 int `json:"4"`
	L3 int `json:"3"`
	L2 int `json:"2"`
	L1 int `json:"1"`
}

// Get returns the count for a level.
func (r RiskCounts) Get(level int) int {
	return [...]int{0, r.L1, r.L2, r.L3, r.L4, r.L5}[min(max(level, 0), 5)]
}

// Analyze classifies every tool of an inventory. Tools keep the server's
// order.
func Analyze(inv Inventory) *Report {
	r := &Report{Server: inv.Server, Tools: make([]Assessment, 0, len(inv.Tools))}
	for _, t := range inv.Tools {
		a := Classify(t)
		r.Tools = append(r.Tools, a)
		r.Summary.Total++
		switch a.Category {
		case Destructive:
			r.Summary.ByCategory.Destructive++
		case Financial:
			r.Summary.ByCategory.Financial++
		case Execute:
			r.Summary.ByCategory.Execute++
		case Write:
			r.Summary.ByCategory.Write++
		case Read:
			r.Summary.ByCategory.Read++
		}
		switch a.Risk.Level {
		case 5:
			r.Summary.ByRisk.L5++
		case 4:
			r.Summary.ByRisk.L4++
		case 3:
			r.Summary.ByRisk.L3++
		case 2:
			r.Summary.ByRisk.L2++
		default:
			r.Summary.ByRisk.L1++
		}
	}
	return r
}

// MaxRisk is the highest risk level of any tool (0 with no tools).
func (r *Report) MaxRisk() int {
	m := 0
	for _, t := range r.Tools {
		m = max(m, t.Risk.Level)
	}
	return m
}

// riskiestFirst returns the tools ordered by risk, then category, then name.
func (r *Report) riskiestFirst() []*Assessment {
	out := make([]*Assessment, len(r.Tools))
	for i := range r.Tools {
		out[i] = &r.Tools[i]
	}
	slices.SortStableFunc(out, func(a, b *Assessment) int {
		return cmp.Or(
			cmp.Compare(b.Risk.Level, a.Risk.Level),
			cmp.Compare(slices.Index(Categories, a.Category), slices.Index(Categories, b.Category)),
			cmp.Compare(a.Name, b.Name),
		)
	})
	return out
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// ReadReport parses a report written by WriteJSON.
func ReadReport(data []byte) (*Report, error) {
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
