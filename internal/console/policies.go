package console

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/scan"
)

// policyView is one policy file on the rules page.
type policyView struct {
	Index    int
	Path     string
	Revision string // SHA-256 of the file as shown: an edit applies only to it
	Short    string
	Rules    []ruleRow
	Error    string
	Star     bool // the file has rules under "*", which apply to every tool too
}

type ruleRow struct {
	ToolRule
	Risk   string // from the scan report
	Level  int
	InScan bool
}

func revision(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func (s *Server) rulesPage(w http.ResponseWriter, r *http.Request) {
	var scanned []string
	risk := map[string]scan.Assessment{}
	if s.cfg.Scan != nil {
		for _, t := range s.cfg.Scan.Tools {
			scanned = append(scanned, t.Name)
			risk[t.Name] = t
		}
	}
	var views []policyView
	for i, path := range s.cfg.Policies {
		v := policyView{Index: i, Path: path}
		data, err := os.ReadFile(path)
		if err != nil {
			v.Error = err.Error()
			views = append(views, v)
			continue
		}
		v.Revision = revision(data)
		v.Short = v.Revision[:12]
		rules, _, err := ReadRules(path, data, scanned)
		if err != nil {
			v.Error = fmt.Sprintf("the file does not load, so the console will not edit it: %v", err)
		}
		for _, tr := range rules {
			row := ruleRow{ToolRule: tr}
			if a, ok := risk[tr.Tool]; ok {
				row.Risk, row.Level, row.InScan = a.Risk.Label, a.Risk.Level, true
			}
			v.Rules = append(v.Rules, row)
		}
		if d, err := parseDoc(data); err == nil {
			_, tv := get(d.root, "tools")
			k, _ := get(tv, "*")
			v.Star = k != nil
		}
		views = append(views, v)
	}
	kinds := []Kind{Allow, RateLimit, Approval, Deny, Hide}
	s.render(w, r, "rules", map[string]any{"Title": "Rules", "Policies": views, "Kinds": kinds, "Windows": Windows})
}

// setRule applies one tool's new rule to one policy file: a minimal edit
// of the text (Edit), loaded with policy.Load before anything is written
// (a result that does not load is refused, its problems shown), then
// written atomically with the file's mode. The proxies watching the file
// reload it.
func (s *Server) setRule(w http.ResponseWriter, r *http.Request) {
	defer http.Redirect(w, r, "/rules", http.StatusSeeOther)
	idx := atoi(r.PostForm.Get("file"))
	if idx < 0 || idx >= len(s.cfg.Policies) || r.PostForm.Get("file") == "" {
		s.setFlash(r, flash{Text: "Not saved: no such policy file."})
		return
	}
	ch := Change{Tool: r.PostForm.Get("tool"), Kind: Kind(r.PostForm.Get("kind")),
		Limit: atoi(r.PostForm.Get("limit")), Window: r.PostForm.Get("window")}
	path := s.cfg.Policies[idx]
	s.editing.Lock()
	defer s.editing.Unlock()
	problems, err := applyChange(path, r.PostForm.Get("rev"), ch)
	if err != nil {
		s.setFlash(r, flash{Text: "Not saved: " + err.Error(), Problems: problems})
		return
	}
	s.cfg.Logger.Info("console: policy edited", "file", path, "tool", ch.Tool, "rule", string(ch.Kind))
	what := ch.Kind.Label()
	if ch.Kind == RateLimit {
		what = fmt.Sprintf("Rate limit %d per %s", ch.Limit, ch.Window)
	}
	s.setFlash(r, flash{OK: true, Text: fmt.Sprintf("Saved %s: %s is now %q. Proxies watching the file reload it.", path, ch.Tool, what)})
}

var errChanged = errors.New("the file changed since this page was loaded; look at it again")

// applyChange edits the policy file at path if it still has revision rev.
func applyChange(path, rev string, ch Change) ([]string, error) {
	target, err := filepath.EvalSymlinks(path) // write the file a link points to, keep the link
	if err != nil {
		return nil, fmt.Errorf("edit policy: %w", err)
	}
	data, err := os.ReadFile(target)
	if err != nil {
		return nil, fmt.Errorf("edit policy: %w", err)
	}
	if revision(data) != rev {
		return nil, errChanged
	}
	out, err := Edit(data, ch)
	if err != nil {
		return nil, err
	}
	if _, err := policy.Load(path, out); err != nil {
		var le *policy.LoadError
		var probs []string
		if errors.As(err, &le) {
			for _, p := range le.Problems {
				probs = append(probs, p.String())
			}
		}
		return probs, fmt.Errorf("the edited policy does not load, so it was not written")
	}
	if err := writeAtomic(target, out); err != nil {
		return nil, err
	}
	return nil, nil
}

// writeAtomic replaces path with data: a temporary file beside it, with
// path's mode, synced, then renamed over it, so a proxy reloading never
// reads half a file.
func writeAtomic(path string, data []byte) (err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+strings.TrimPrefix(base, ".")+".tollgate-*")
	if err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(fi.Mode().Perm()); err == nil {
		if _, err = tmp.Write(data); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	return nil
}

func (s *Server) scanPage(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Scan report"}
	if s.cfg.Scan != nil {
		tools := append([]scan.Assessment(nil), s.cfg.Scan.Tools...)
		sort.SliceStable(tools, func(i, j int) bool { return tools[i].Risk.Level > tools[j].Risk.Level })
		data["Report"] = s.cfg.Scan
		data["Tools"] = tools
	}
	s.render(w, r, "scan", data)
}

func (s *Server) countersPage(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Counters", "Note": s.cfg.UsageNote}
	if s.cfg.Usage != nil {
		us, err := s.cfg.Usage(r.Context(), s.cfg.Now())
		if err != nil {
			data["Error"] = fmt.Sprintf("read the counters: %v", err)
		}
		type row struct {
			Scope, Counter, Who, Window, Used string
			Charges                           int
		}
		var rows []row
		for _, u := range us {
			win := u.Window.String()
			if u.Location != "" {
				win += " (calendar, " + u.Location + ")"
			}
			rows = append(rows, row{u.Key.Scope, u.Key.Counter, u.Key.Who, win, u.Used.String(), u.Charges})
		}
		data["Rows"] = rows
		data["HaveUsage"] = true
	}
	s.render(w, r, "counters", data)
}
