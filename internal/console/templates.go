package console

import (
	"embed"
	"html/template"
	"strings"
	"time"
)

// assets are the console's stylesheet and script, served from the binary:
// nothing is fetched from the network when a page loads.
//
//go:embed assets
var assets embed.FS

//go:embed templates
var templates embed.FS

var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format("15:04:05")
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.Local().Format(time.DateTime)
	},
	"short": func(s string, n int) string {
		if len(s) <= n {
			return s
		}
		return s[:n] + "…"
	},
	"join": strings.Join,
	"eq2":  func(a, b any) bool { return a == b },
}

// parsePages parses each page with the layout around it.
func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range []string{"decisions", "approvals", "pins", "rules", "scan", "counters", "denied"} {
		t, err := template.New(name).Funcs(funcs).ParseFS(templates, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		pages[name] = t
	}
	return pages, nil
}
