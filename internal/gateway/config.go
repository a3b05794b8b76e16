package gateway

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/suggest"
)

// Defaults of a gateway file.
const (
	DefaultSeparator      = "__"
	DefaultStartupTimeout = 5 * time.Second
	DefaultMinBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff     = 30 * time.Second
	DefaultRequestTimeout = 30 * time.Second
)

// Config is a parsed gateway file.
type Config struct {
	// File is the path the config was read from ("" for inline tests).
	File      string
	Separator string
	// StartupTimeout bounds how long a session's initialize waits for the
	// servers; later ones join with list_changed.
	StartupTimeout time.Duration
	// RequestTimeout bounds the gateway's own requests to a server
	// (initialize, the pages of a list).
	RequestTimeout time.Duration
	// MinBackoff and MaxBackoff bound the delay before restarting a server
	// that failed or died (doubling from MinBackoff, capped at MaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	// State is the --state spec the file names ("" when it names none).
	State string
	// Policy is the gateway-wide policy, judging namespaced names; nil
	// when the file has none.
	Policy *policy.Policy
	// PolicyPath is the file Policy was read from, "" when it is inline.
	PolicyPath string
	// Servers are in the order the file lists them.
	Servers []ServerConfig
}

// ServerConfig is one server of the gateway file.
type ServerConfig struct {
	Name   string
	Prefix string
	// Command (argv) with Env (NAME=value, over Tollgate's environment) and
	// Dir; or URL with Header values (${VAR} still unexpanded).
	Command []string
	Env     []string
	Dir     string
	URL     string
	Header  [][2]string
	// Policy is the server's own policy, judging the server's own names.
	Policy *policy.Policy
	// PolicyFile is where it came from: a path, or "FILE (servers.NAME.policy)".
	PolicyFile string
	// PolicyPath is the file Policy was read from, "" when it is inline.
	// The file's content was loaded with PolicyTag(Name) appended.
	PolicyPath string
	// Pins is the tool-definition pinning mode asked for this server (off,
	// record or enforce; "" is the default). A seam for internal/pins.
	Pins string
}

var (
	topKeys     = []string{"version", "separator", "startup_timeout", "request_timeout", "restart", "state", "policy", "servers"}
	serverKeys  = []string{"command", "env", "cwd", "url", "headers", "policy", "prefix", "pins"}
	restartKeys = []string{"min_backoff", "max_backoff"}
)

// LoadFile reads and checks a gateway file. The error, when not nil, is a
// *policy.LoadError listing every problem with its file:line:col (the
// problems of the policies it names included).
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load gateway config: %w", err)
	}
	return Load(path, data)
}

// Load parses a gateway file's bytes; filename is used in problem
// positions, and relative paths in the file are relative to its directory.
func Load(filename string, data []byte) (*Config, error) {
	l := &loader{file: filename, data: data, dir: filepath.Dir(filename)}
	c := l.load()
	if len(l.probs) > 0 {
		sort.SliceStable(l.probs, func(i, j int) bool {
			a, b := l.probs[i], l.probs[j]
			if a.File != b.File {
				return a.File == filename
			}
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Col < b.Col
		})
		return nil, &policy.LoadError{Problems: l.probs}
	}
	return c, nil
}

type loader struct {
	file  string
	data  []byte
	dir   string
	probs []policy.Problem
}

func (l *loader) errf(n *yaml.Node, format string, a ...any) {
	p := policy.Problem{File: l.file, Msg: fmt.Sprintf(format, a...)}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	l.probs = append(l.probs, p)
}

func (l *loader) load() *Config {
	c := &Config{File: l.file, Separator: DefaultSeparator, StartupTimeout: DefaultStartupTimeout, RequestTimeout: DefaultRequestTimeout,
		MinBackoff: DefaultMinBackoff, MaxBackoff: DefaultMaxBackoff}
	var doc yaml.Node
	if err := yaml.Unmarshal(l.data, &doc); err != nil {
		l.probs = append(l.probs, policy.Problem{File: l.file, Msg: "YAML: " + err.Error()})
		return c
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		l.errf(nil, "the gateway file is empty: it needs servers")
		return c
	}
	root := doc.Content[0]
	f := l.fields(root, "the gateway file", topKeys)
	if f == nil {
		return c
	}
	if v, ok := f["version"]; ok && !(v.Kind == yaml.ScalarNode && v.Value == "1") {
		l.errf(v, "version must be \"1\"")
	}
	if v, ok := f["separator"]; ok {
		if s, ok := l.str(v, "separator"); ok {
			if s == "" || strings.ContainsAny(s, " \t\r\n\"\\/") {
				l.errf(v, "separator must be non-empty, without spaces, quotes, slashes or backslashes")
			} else {
				c.Separator = s
			}
		}
	}
	if v, ok := f["startup_timeout"]; ok {
		if d, ok := l.duration(v, "startup_timeout"); ok {
			c.StartupTimeout = d
		}
	}
	if v, ok := f["request_timeout"]; ok {
		if d, ok := l.duration(v, "request_timeout"); ok {
			c.RequestTimeout = d
		}
	}
	if v, ok := f["restart"]; ok {
		if rf := l.fields(v, "restart", restartKeys); rf != nil {
			if n, ok := rf["min_backoff"]; ok {
				if d, ok := l.duration(n, "restart.min_backoff"); ok {
					c.MinBackoff = d
				}
			}
			if n, ok := rf["max_backoff"]; ok {
				if d, ok := l.duration(n, "restart.max_backoff"); ok {
					c.MaxBackoff = d
				}
			}
			if c.MaxBackoff < c.MinBackoff {
				l.errf(v, "restart.max_backoff (%s) is below restart.min_backoff (%s)", c.MaxBackoff, c.MinBackoff)
			}
		}
	}
	if v, ok := f["state"]; ok {
		c.State, _ = l.str(v, "state")
	}
	if v, ok := f["policy"]; ok {
		var from string
		c.Policy, from = l.policy(v, "policy", "")
		if v.Kind == yaml.ScalarNode && c.Policy != nil {
			c.PolicyPath = from
		}
	}
	sv, ok := f["servers"]
	if !ok {
		l.errf(root, "the gateway file names no servers (add servers:)")
		return c
	}
	if sv.Kind != yaml.MappingNode || len(sv.Content) == 0 {
		l.errf(sv, "servers must be a non-empty mapping of server names to their settings")
		return c
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(sv.Content); i += 2 {
		k, v := sv.Content[i], sv.Content[i+1]
		if prev, dup := seen[k.Value]; dup {
			l.errf(k, "duplicate server %q (first at line %d)", k.Value, prev.Line)
			continue
		}
		seen[k.Value] = k
		if !validName(k.Value) {
			l.errf(k, "server name %q: use letters, digits, '-' and '_' only", k.Value)
			continue
		}
		if s, ok := l.server(k.Value, v); ok {
			c.Servers = append(c.Servers, s)
		}
	}
	l.checkPrefixes(c, sv)
	return c
}

// checkPrefixes refuses prefixes that would make one namespaced name
// readable as two servers' names: equal prefixes, or one prefix followed by
// the separator starting another's (a__ and a__b__).
// An empty prefix (names served as the server has them) is allowed for one
// server: its names can collide with others' only at run time, where the
// gateway leaves the colliding ones out.
func (l *loader) checkPrefixes(c *Config, servers *yaml.Node) {
	bare := ""
	for i, a := range c.Servers {
		if a.Prefix == "" {
			if bare != "" {
				l.errf(servers, "servers %q and %q both have prefix \"\": at most one server may be unprefixed", bare, a.Name)
			}
			bare = a.Name
			continue
		}
		if strings.Contains(a.Prefix, c.Separator) {
			l.errf(servers, "server %q: its prefix %q contains the separator %q", a.Name, a.Prefix, c.Separator)
			continue
		}
		for _, b := range c.Servers[i+1:] {
			if b.Prefix == "" {
				continue
			}
			pa, pb := a.Prefix+c.Separator, b.Prefix+c.Separator
			if strings.HasPrefix(pa, pb) || strings.HasPrefix(pb, pa) {
				l.errf(servers, "servers %q and %q collide: their names would be %s… and %s…, which cannot be told apart; give one of them another prefix:", a.Name, b.Name, pa, pb)
			}
		}
	}
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

func (l *loader) server(name string, n *yaml.Node) (ServerConfig, bool) {
	s := ServerConfig{Name: name, Prefix: name}
	what := "server " + name
	f := l.fields(n, what, serverKeys)
	if f == nil {
		return s, false
	}
	ok := true
	cmd, hasCmd := f["command"]
	u, hasURL := f["url"]
	switch {
	case hasCmd && hasURL:
		l.errf(n, "%s: give either command or url, not both", what)
		ok = false
	case !hasCmd && !hasURL:
		l.errf(n, "%s: needs a command (a list: [program, args...]) or a url", what)
		ok = false
	case hasCmd:
		if cmd.Kind != yaml.SequenceNode || len(cmd.Content) == 0 {
			l.errf(cmd, "%s: command must be a non-empty list, [program, args...]", what)
			ok = false
			break
		}
		for _, a := range cmd.Content {
			v, good := l.str(a, what+": command")
			ok = ok && good
			s.Command = append(s.Command, v)
		}
		for _, k := range []string{"headers"} {
			if v, has := f[k]; has {
				l.errf(v, "%s: %s only applies to a url server", what, k)
				ok = false
			}
		}
	case hasURL:
		v, good := l.str(u, what+": url")
		if good && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
			l.errf(u, "%s: url must start with http:// or https://", what)
			good = false
		}
		ok = ok && good
		s.URL = v
		for _, k := range []string{"env", "cwd"} {
			if v, has := f[k]; has {
				l.errf(v, "%s: %s only applies to a command server", what, k)
				ok = false
			}
		}
	}
	if v, has := f["env"]; has && hasCmd {
		for _, kv := range l.stringMap(v, what+": env") {
			s.Env = append(s.Env, kv[0]+"="+kv[1])
		}
	}
	if v, has := f["headers"]; has && hasURL {
		s.Header = l.stringMap(v, what+": headers")
	}
	if v, has := f["cwd"]; has && hasCmd {
		if d, good := l.str(v, what+": cwd"); good {
			if !filepath.IsAbs(d) {
				d = filepath.Join(l.dir, d)
			}
			s.Dir = d
		}
	}
	if v, has := f["prefix"]; has {
		if p, good := l.str(v, what+": prefix"); good {
			if p != "" && !validName(p) {
				l.errf(v, "%s: prefix %q: use letters, digits, '-', '_' and '.' only", what, p)
				ok = false
			}
			s.Prefix = p
		}
	}
	if v, has := f["pins"]; has {
		if p, good := l.str(v, what+": pins"); good {
			switch p {
			case "off", "record", "enforce":
				s.Pins = p
			default:
				l.errf(v, "%s: pins must be off, record or enforce, not %q", what, p)
				ok = false
			}
		}
	}
	if v, has := f["policy"]; has {
		s.Policy, s.PolicyFile = l.policy(v, "servers."+name+".policy", name)
		if v.Kind == yaml.ScalarNode && s.Policy != nil {
			s.PolicyPath = s.PolicyFile
		}
		ok = ok && s.Policy != nil
	} else {
		p, err := policy.Load(l.file+" (servers."+name+": no policy)", []byte("version: \"1\"\n# server "+name+"\n"))
		if err != nil {
			l.errf(n, "%s: %v", what, err)
			return s, false
		}
		s.Policy, s.PolicyFile = p, ""
	}
	return s, ok
}

// policy loads a policy given as a file path or inline. server, when not
// empty, is written into the source the policy is compiled from (as a
// comment), so that two servers sharing one policy file still have
// different revisions: an approval given on one server is never reused on
// another.
func (l *loader) policy(n *yaml.Node, where, server string) (*policy.Policy, string) {
	tag := PolicyTag(server)
	switch n.Kind {
	case yaml.ScalarNode:
		path, ok := l.str(n, where)
		if !ok {
			return nil, ""
		}
		path = l.path(path)
		data, err := os.ReadFile(path)
		if err != nil {
			l.errf(n, "%s: %v", where, err)
			return nil, ""
		}
		p, err := policy.Load(path, append(data, tag...))
		if err != nil {
			l.policyErr(n, where, err)
			return nil, ""
		}
		return p, path
	case yaml.MappingNode:
		name, src := l.file, l.inlineSource(n)
		if n.Style&yaml.FlowStyle != 0 {
			// A flow mapping ({...}) may share its lines with other
			// text: compile it re-encoded, positions relative to it.
			out, err := yaml.Marshal(n)
			if err != nil {
				l.errf(n, "%s: %v", where, err)
				return nil, ""
			}
			name, src = l.file+" ("+where+")", out
		}
		p, err := policy.Load(name, append(src, tag...))
		if err != nil {
			l.policyErr(n, where, err)
			return nil, ""
		}
		return p, l.file + " (" + where + ")"
	}
	l.errf(n, "%s must be a policy file path or an inline policy mapping", where)
	return nil, ""
}

// PolicyTag is what a server's policy file is loaded with appended: a
// comment naming the server (nothing for the gateway-wide policy, server
// ""), so that two servers of one file have policies of their own
// revisions.
func PolicyTag(server string) string {
	if server == "" {
		return ""
	}
	return "\n# tollgate gateway server: " + server + "\n"
}

// path resolves a policy path of the gateway file: relative to the file's
// directory.
func (l *loader) path(p string) string {
	if !filepath.IsAbs(p) {
		return filepath.Join(l.dir, p)
	}
	return p
}

func (l *loader) policyErr(n *yaml.Node, where string, err error) {
	var le *policy.LoadError
	if errors.As(err, &le) {
		l.probs = append(l.probs, le.Problems...)
		return
	}
	l.errf(n, "%s: %v", where, err)
}

// inlineSource returns the gateway file's text with everything but the
// inline mapping n blanked out (lines emptied, the text before n on its
// first line turned into spaces), so that the policy's own problems carry
// the gateway file's lines and columns.
func (l *loader) inlineSource(n *yaml.Node) []byte {
	first, last := n.Line, lastLine(n)
	// A block scalar (|) as the mapping's last value runs past its node's
	// line: take the lines up to the next node outside the mapping.
	lines := strings.SplitAfter(string(l.data), "\n")
	if next := l.nextLineAfter(n, last); next > 0 {
		last = next - 1
	} else {
		last = len(lines)
	}
	var b strings.Builder
	for i, line := range lines {
		ln := i + 1
		switch {
		case ln < first || ln > last:
			if strings.HasSuffix(line, "\n") {
				b.WriteByte('\n')
			}
		case ln == first:
			col := n.Column - 1
			if col > len(line) {
				col = len(line)
			}
			b.WriteString(strings.Repeat(" ", col))
			b.WriteString(line[col:])
		default:
			b.WriteString(line)
		}
	}
	return []byte(b.String())
}

func lastLine(n *yaml.Node) int {
	m := n.Line
	for _, c := range n.Content {
		if x := lastLine(c); x > m {
			m = x
		}
	}
	return m
}

// nextLineAfter returns the line of the first node of the document that
// starts after line (and is not inside n), 0 when there is none.
func (l *loader) nextLineAfter(n *yaml.Node, line int) int {
	var doc yaml.Node
	_ = yaml.Unmarshal(l.data, &doc)
	best := 0
	var walk func(x *yaml.Node)
	walk = func(x *yaml.Node) {
		if x.Line > line && (best == 0 || x.Line < best) {
			best = x.Line
		}
		for _, c := range x.Content {
			walk(c)
		}
	}
	walk(&doc)
	return best
}

// fields checks that n is a mapping whose keys are all allowed, reporting
// duplicates and unknown keys (with a suggestion). It returns nil when n is
// not a mapping.
func (l *loader) fields(n *yaml.Node, what string, allowed []string) map[string]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		l.errf(n, "%s must be a mapping", what)
		return nil
	}
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := out[k.Value]; dup {
			l.errf(k, "duplicate key %q in %s", k.Value, what)
			continue
		}
		known := false
		for _, a := range allowed {
			known = known || a == k.Value
		}
		if !known {
			l.errf(k, "unknown key %q in %s%s", k.Value, what, suggest.DidYouMean(k.Value, allowed))
			continue
		}
		out[k.Value] = v
	}
	return out
}

func (l *loader) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		l.errf(n, "%s must be a string", what)
		return "", false
	}
	return n.Value, true
}

func (l *loader) duration(n *yaml.Node, what string) (time.Duration, bool) {
	s, ok := l.str(n, what)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		l.errf(n, "%s must be a positive duration such as 5s, not %q", what, s)
		return 0, false
	}
	return d, true
}

// stringMap reads a mapping of names to string values, in order.
func (l *loader) stringMap(n *yaml.Node, what string) [][2]string {
	if n.Kind != yaml.MappingNode {
		l.errf(n, "%s must be a mapping of names to strings", what)
		return nil
	}
	var out [][2]string
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			l.errf(k, "duplicate key %q in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		if k.Value == "" || strings.ContainsAny(k.Value, "=\x00") {
			l.errf(k, "%s: %q is not a valid name", what, k.Value)
			continue
		}
		val, ok := l.str(v, what+"."+k.Value)
		if ok {
			out = append(out, [2]string{k.Value, val})
		}
	}
	return out
}
