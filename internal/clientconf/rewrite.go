package clientconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Wrap says how to guard one entry.
type Wrap struct {
	Tollgate string // the tollgate executable, absolute
	Policy   string // the policy file, absolute
}

// edit replaces data[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// Rewrite is the new content of a file with some of its entries guarded.
type Rewrite struct {
	File  *File
	Data  []byte
	edits []edit
}

// NewRewrite starts a rewrite of f that changes nothing yet.
func NewRewrite(f *File) *Rewrite { return &Rewrite{File: f, Data: f.Data} }

// Changed reports whether any entry was rewritten.
func (r *Rewrite) Changed() bool { return len(r.edits) > 0 }

// HeaderVar is an environment variable that carries a header's value for a
// bridged remote entry: the entry's env holds the value and the args hold
// only "Name: ${Var}".
type HeaderVar struct {
	Header string
	Var    string
}

// Guard rewrites s (which must belong to r's file) to run under tollgate:
// a stdio entry's command becomes tollgate and its args
// `run -c POLICY -- COMMAND ARGS…`, every other key left as it is; a remote
// entry becomes `run -c POLICY --upstream URL --header "Name: ${VAR}"…` with
// each header's value moved into the entry's env under VAR. It returns the
// variables it made.
func (r *Rewrite) Guard(s *Server, w Wrap) ([]HeaderVar, error) {
	if s.Guarded {
		return nil, errors.New("guard: entry already runs tollgate")
	}
	if s.node == nil || s.node.Kind != Object {
		return nil, fmt.Errorf("guard %q: entry is not an object", s.Name)
	}
	switch s.Transport {
	case Stdio:
		return nil, r.guardStdio(s, w)
	case Remote:
		return r.guardRemote(s, w)
	}
	return nil, fmt.Errorf("guard %q: entry has neither a command nor a url", s.Name)
}

func (r *Rewrite) guardStdio(s *Server, w Wrap) error {
	args := append([]string{"run", "-c", w.Policy, "--", s.Command}, s.Args...)
	cmd := s.node.Get("command")
	r.edits = append(r.edits, edit{cmd.Start, cmd.End, jsonString(w.Tollgate)})
	if a := s.node.Get("args"); a != nil {
		if _, ok := a.Strings(); !ok {
			return fmt.Errorf("guard %q: \"args\" is not a list of strings", s.Name)
		}
		r.edits = append(r.edits, edit{a.Start, a.End, r.renderArray(a, args)})
		return nil
	}
	// No args: add them right after the command, on a line of their own
	// when the command has one.
	sep := " "
	if ind, ok := r.lineIndent(r.keyStart(s.node, "command")); ok {
		sep = "\n" + ind
	}
	r.edits = append(r.edits, edit{cmd.End, cmd.End, "," + sep + `"args": ` + renderInline(args)})
	return nil
}

func (r *Rewrite) guardRemote(s *Server, w Wrap) ([]HeaderVar, error) {
	if strings.ContainsAny(s.URL, "\r\n") {
		return nil, fmt.Errorf("guard %q: url has a line break", s.Name)
	}
	args := []string{"run", "-c", w.Policy, "--upstream", s.URL}
	env := s.node.Get("env")
	taken := map[string]bool{}
	if env != nil {
		if env.Kind != Object {
			return nil, fmt.Errorf("guard %q: \"env\" is not an object", s.Name)
		}
		for _, m := range env.Members {
			taken[m.Key] = true
		}
	}
	var vars []HeaderVar
	var newEnv []string // rendered members
	for _, h := range s.Headers {
		if !validHeaderName(h.Name) {
			return nil, fmt.Errorf("guard %q: header name %q is not valid", s.Name, h.Name)
		}
		v := headerVar(h.Name, taken)
		taken[v] = true
		vars = append(vars, HeaderVar{Header: h.Name, Var: v})
		args = append(args, "--header", h.Name+": ${"+v+"}")
		newEnv = append(newEnv, jsonString(v)+": "+jsonString(h.Value))
	}

	// The entry is written anew: the keys that made it remote go, the
	// rest keep their bytes, in their order.
	multi := bytes.IndexByte(r.Data[s.node.Start:s.node.End], '\n') >= 0
	ind, close := "", ""
	if multi && len(s.node.Members) > 0 {
		ind, _ = r.lineIndent(s.node.Members[0].KeyStart)
		close, _ = r.lineIndent(s.node.End - 1)
	}
	var members []string
	placed := false
	place := func() {
		if !placed {
			members = append(members, `"command": `+jsonString(w.Tollgate), `"args": `+renderInline(args))
			placed = true
		}
	}
	envDone := false
	for _, m := range s.node.Members {
		raw := string(r.Data[m.KeyStart:m.Value.End])
		switch m.Key {
		case "url", "serverUrl":
			place()
		case "headers", "command", "args":
		case "type":
			members = append(members, `"type": "stdio"`)
		case "env":
			if s.node.Get("env") != m.Value {
				continue
			}
			members = append(members, `"env": `+r.extendObject(m.Value, newEnv, ind))
			envDone = true
		default:
			members = append(members, raw)
		}
	}
	place()
	if !envDone && len(newEnv) > 0 {
		members = append(members, `"env": `+renderObject(newEnv, ind, multi))
	}
	var b strings.Builder
	b.WriteString("{")
	for i, m := range members {
		if i > 0 {
			b.WriteString(",")
		}
		if multi {
			b.WriteString("\n" + ind)
		} else {
			b.WriteString(" ")
		}
		b.WriteString(m)
	}
	if multi {
		b.WriteString("\n" + close + "}")
	} else {
		b.WriteString(" }")
	}
	r.edits = append(r.edits, edit{s.node.Start, s.node.End, b.String()})
	return vars, nil
}

// extendObject renders obj with more members after its own.
func (r *Rewrite) extendObject(obj *Node, more []string, outer string) string {
	var members []string
	for _, m := range obj.Members {
		if obj.Get(m.Key) == m.Value {
			members = append(members, string(r.Data[m.KeyStart:m.Value.End]))
		}
	}
	multi := bytes.IndexByte(r.Data[obj.Start:obj.End], '\n') >= 0
	return renderObject(append(members, more...), outer, multi)
}

func renderObject(members []string, outer string, multi bool) string {
	if len(members) == 0 {
		return "{}"
	}
	if !multi {
		return "{ " + strings.Join(members, ", ") + " }"
	}
	in := outer + indentUnit(outer)
	return "{\n" + in + strings.Join(members, ",\n"+in) + "\n" + outer + "}"
}

// indentUnit guesses one level of indentation from an indented line.
func indentUnit(ind string) string {
	if strings.HasPrefix(ind, "\t") {
		return "\t"
	}
	if len(ind) >= 4 && len(ind)%4 == 0 {
		return "    "
	}
	return "  "
}

// Apply returns the file's new content with every edit made.
func (r *Rewrite) Apply() ([]byte, error) {
	es := slices.Clone(r.edits)
	slices.SortFunc(es, func(a, b edit) int { return a.start - b.start })
	var out bytes.Buffer
	pos := 0
	for _, e := range es {
		if e.start < pos {
			return nil, errors.New("apply edits: two edits overlap")
		}
		out.Write(r.Data[pos:e.start])
		out.WriteString(e.text)
		pos = e.end
	}
	out.Write(r.Data[pos:])
	// What is written must read back as the same kind of file.
	if _, err := Parse(out.Bytes()); err != nil {
		return nil, fmt.Errorf("apply edits: result does not parse: %w", err)
	}
	return out.Bytes(), nil
}

// keyStart is where key's member starts in obj.
func (r *Rewrite) keyStart(obj *Node, key string) int {
	v := obj.Get(key)
	for _, m := range obj.Members {
		if m.Value == v {
			return m.KeyStart
		}
	}
	return -1
}

// lineIndent returns the white space that starts the line holding pos, and
// whether only white space comes before pos on that line.
func (r *Rewrite) lineIndent(pos int) (string, bool) {
	if pos < 0 || pos > len(r.Data) {
		return "", false
	}
	start := bytes.LastIndexByte(r.Data[:pos], '\n') + 1
	line := r.Data[start:pos]
	if len(bytes.TrimLeft(line, " \t")) != 0 {
		return "", false
	}
	end := start
	for end < pos && (r.Data[end] == ' ' || r.Data[end] == '\t') {
		end++
	}
	return string(r.Data[start:end]), true
}

// renderArray writes strs in the layout of the array it replaces: one line,
// or one element a line at the original's indentation.
func (r *Rewrite) renderArray(old *Node, strs []string) string {
	if bytes.IndexByte(r.Data[old.Start:old.End], '\n') < 0 {
		return renderInline(strs)
	}
	var ind string
	if len(old.Elems) > 0 {
		ind, _ = r.lineIndent(old.Elems[0].Start)
	}
	close, ok := r.lineIndent(old.End - 1)
	if !ok {
		close = ""
	}
	if ind == "" {
		ind = close + indentUnit(close)
	}
	quoted := make([]string, len(strs))
	for i, s := range strs {
		quoted[i] = jsonString(s)
	}
	tail := "\n" + close + "]"
	if !ok {
		tail = "]"
	}
	return "[\n" + ind + strings.Join(quoted, ",\n"+ind) + tail
}

func renderInline(strs []string) string {
	quoted := make([]string, len(strs))
	for i, s := range strs {
		quoted[i] = jsonString(s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// jsonString quotes s as JSON, leaving <, > and & as they are.
func jsonString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

var nonWord = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^A-Z0-9]+`) })

// headerVar names the variable for a header: TOLLGATE_HEADER_AUTHORIZATION,
// with a number added if the entry already has one of that name.
func headerVar(name string, taken map[string]bool) string {
	base := "TOLLGATE_HEADER_" + strings.Trim(nonWord().ReplaceAllString(strings.ToUpper(name), "_"), "_")
	v := base
	for i := 2; taken[v]; i++ {
		v = fmt.Sprintf("%s_%d", base, i)
	}
	return v
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}
