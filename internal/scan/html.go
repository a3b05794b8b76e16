package scan

import (
	"html/template"
	"io"
	"strings"
	"sync"
)

// WriteHTML writes the report as one self-contained HTML file: inline CSS,
// an inline SVG chart of the risk distribution, and an inline script that
// filters the tool entries by text. Nothing is loaded from the network, and
// every value from the server is escaped by html/template.
func (r *Report) WriteHTML(w io.Writer) error {
	type bar struct {
		Label        string
		Count        int
		Y, Width, TY int
		Color        string
	}
	type entry struct {
		*Assessment
		Search   string
		Level    int
		RuleYAML string
		Desc     string
	}
	colors := map[int]string{5: "#b91c1c", 4: "#ea580c", 3: "#ca8a04", 2: "#65a30d", 1: "#15803d"}
	maxCount := 1
	for l := 1; l <= 5; l++ {
		maxCount = max(maxCount, r.Summary.ByRisk.Get(l))
	}
	var bars []bar
	for i, l := 0, 5; l >= 1; i, l = i+1, l-1 {
		n := r.Summary.ByRisk.Get(l)
		bars = append(bars, bar{
			Label: RiskLabel(l) + " (" + string(rune('0'+l)) + ")",
			Count: n, Y: 10 + i*30, TY: 10 + i*30 + 15,
			Width: n * 360 / maxCount, Color: colors[l],
		})
	}
	var entries []entry
	for _, a := range r.riskiestFirst() {
		var sig []string
		for _, s := range a.Signals {
			sig = append(sig, s.Kind, s.Description)
		}
		entries = append(entries, entry{
			Assessment: a,
			Search:     strings.ToLower(strings.Join(append([]string{a.Name, string(a.Category), a.Risk.Label, a.Reason, a.Description}, sig...), " ")),
			Level:      a.Risk.Level,
			RuleYAML:   strings.Join(suggestedYAML(a), "\n"),
			Desc:       truncate(oneLine(a.Description), 600),
		})
	}
	var cats []struct {
		Name  Category
		Count int
		Plan  string
	}
	for _, c := range Categories {
		cats = append(cats, struct {
			Name  Category
			Count int
			Plan  string
		}{c, r.Summary.ByCategory.Get(c), planOf(c)})
	}
	return htmlReport().Execute(w, map[string]any{
		"Title":   serverTitle(r.Server),
		"Server":  r.Server,
		"Total":   r.Summary.Total,
		"Bars":    bars,
		"Cats":    cats,
		"Entries": entries,
		"Colors":  colors,
	})
}

var htmlReport = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("report").Funcs(template.FuncMap{
		"more": func(paths []string) int { return max(0, len(paths)-8) },
		"head": func(paths []string) []string { return paths[:min(len(paths), 8)] },
		"color": func(colors map[int]string, l int) string {
			return colors[l]
		},
	}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>Tollgate scan: {{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1f2937;line-height:1.45}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #d1d5db;padding:.25rem .6rem;text-align:left}
.num{text-align:right}
.tool{border:1px solid #d1d5db;border-left-width:6px;border-radius:4px;padding:.5rem 1rem;margin:.75rem 0}
.tool h3{margin:.25rem 0;font-size:1.05rem;font-family:ui-monospace,monospace;word-break:break-all}
.badge{display:inline-block;border-radius:3px;padding:0 .4rem;color:#fff;font-size:.85rem}
pre{background:#f3f4f6;padding:.5rem;overflow-x:auto}
code{font-family:ui-monospace,monospace;font-size:.9em;word-break:break-all}
#filter{width:100%;font-size:1rem;padding:.4rem;box-sizing:border-box}
.muted{color:#6b7280}
</style>
</head>
<body>
<h1>Tollgate scan: {{.Title}}</h1>
<p class="muted">{{with .Server.Source}}Source: <code>{{.}}</code>{{end}}{{with .Server.ProtocolVersion}} · MCP {{.}}{{end}}</p>
<h2>Summary</h2>
<p>{{.Total}} tools.</p>
<svg role="img" aria-label="Tools per risk level" width="560" height="165" viewBox="0 0 560 165" xmlns="http://www.w3.org/2000/svg">
{{range .Bars}}<text x="0" y="{{.TY}}" font-size="13">{{.Label}}</text><rect x="120" y="{{.Y}}" width="{{.Width}}" height="20" fill="{{.Color}}"></rect><text x="{{.Width}}" dx="128" y="{{.TY}}" font-size="13">{{.Count}}</text>
{{end}}</svg>
<table><tr><th>Category</th><th>Tools</th><th>Starting rule</th></tr>
{{range .Cats}}<tr><td>{{.Name}}</td><td class="num">{{.Count}}</td><td>{{.Plan}}</td></tr>
{{end}}</table>
<h2>Tools</h2>
<input id="filter" type="search" placeholder="Filter tools by name, category, risk, signal or text" aria-label="Filter tools">
<p class="muted" id="shown"></p>
{{range .Entries}}<div class="tool" data-search="{{.Search}}" style="border-left-color:{{color $.Colors .Level}}">
<h3>{{.Name}}</h3>
<p><span class="badge" style="background:{{color $.Colors .Level}}">{{.Risk.Level}}/5 {{.Risk.Label}}</span> <strong>{{.Category}}</strong></p>
<p><strong>Reason:</strong> {{.Reason}}</p>
{{with .Desc}}<p><strong>Description:</strong> {{.}}</p>{{end}}
{{if .Signals}}<p><strong>Signals:</strong></p><ul>{{range .Signals}}<li>{{.Description}}{{if .Paths}}: {{range $i, $p := head .Paths}}{{if $i}}, {{end}}<code>{{$p}}</code>{{end}}{{with more .Paths}} and {{.}} more{{end}}{{end}}</li>{{end}}</ul>{{end}}
<p><strong>Suggested rule:</strong></p>
<pre>{{.RuleYAML}}</pre>
</div>
{{end}}<script>
(function () {
  var box = document.getElementById("filter");
  var shown = document.getElementById("shown");
  var tools = document.querySelectorAll(".tool");
  function apply() {
    var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
    var n = 0;
    tools.forEach(function (t) {
      var text = t.getAttribute("data-search");
      var ok = words.every(function (w) { return text.indexOf(w) >= 0; });
      t.style.display = ok ? "" : "none";
      if (ok) { n++; }
    });
    shown.textContent = n + " of " + tools.length + " tools shown";
  }
  box.addEventListener("input", apply);
  apply();
})();
</script>
</body>
</html>
`))
})
