package clientconf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Transport is how a client reaches a server.
type Transport int

const (
	Stdio  Transport = iota + 1 // "command" and "args"
	Remote                      // "url" (Windsurf: "serverUrl"), optional "headers"
)

// Header is one configured HTTP header of a remote entry. Value is a
// secret as far as this package is concerned.
type Header struct {
	Name  string
	Value string
}

// Server is one entry of a client's configuration.
type Server struct {
	Client string
	File   string
	// Project is the project directory of a Claude Code entry under
	// ~/.claude.json's "projects"; "" for everything else.
	Project string
	Name    string

	Transport Transport // 0: neither a command nor a URL
	Command   string
	Args      []string
	URL       string
	Headers   []Header
	// Env holds the entry's "env"; values are secrets.
	Env map[string]string
	// Cwd is the entry's "cwd" (the server's working directory), as
	// written; "" when there is none.
	Cwd string

	// Guarded is set when the entry already runs tollgate; PolicyPath is
	// then the policy it runs with (its -c), if it could be read.
	Guarded    bool
	PolicyPath string

	node *Node // the entry's object
}

// Where names the entry for a person: file, and project if any.
func (s *Server) Where() string {
	if s.Project != "" {
		return fmt.Sprintf("%s (project %s)", s.File, s.Project)
	}
	return s.File
}

// File is one parsed configuration file.
type File struct {
	Location
	Data    []byte
	Mode    os.FileMode
	Servers []*Server
}

// Load reads and parses the file at l.Path. It returns an error wrapping
// os.ErrNotExist when there is no such file.
func Load(l Location, isTollgate func(command string) bool) (*File, error) {
	data, err := os.ReadFile(l.Path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", l.Path, err)
	}
	fi, err := os.Stat(l.Path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", l.Path, err)
	}
	f, err := parseFile(l, data, isTollgate)
	if err != nil {
		return nil, err
	}
	f.Mode = fi.Mode().Perm()
	return f, nil
}

func parseFile(l Location, data []byte, isTollgate func(string) bool) (*File, error) {
	f := &File{Location: l, Data: data}
	if len(strings.TrimSpace(string(data))) == 0 {
		return f, nil // an empty file: nothing configured yet
	}
	root, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.Path, err)
	}
	if root.Kind != Object {
		return nil, fmt.Errorf("%s: not a JSON object", l.Path)
	}
	add := func(project string, servers *Node) {
		if servers == nil || servers.Kind != Object {
			return
		}
		for _, m := range servers.Members {
			if servers.Get(m.Key) != m.Value {
				continue // a duplicate key: the client reads the last one
			}
			f.Servers = append(f.Servers, readServer(l, project, m.Key, m.Value, isTollgate))
		}
	}
	switch l.Shape {
	case ShapeMCPServers:
		add("", root.Get("mcpServers"))
	case ShapeClaudeJSON:
		add("", root.Get("mcpServers"))
		if projects := root.Get("projects"); projects != nil && projects.Kind == Object {
			for _, m := range projects.Members {
				add(m.Key, m.Value.Get("mcpServers"))
			}
		}
	case ShapeVSCodeSettings:
		add("", root.Get("mcp").Get("servers"))
	case ShapeServers:
		add("", root.Get("servers"))
	}
	return f, nil
}

func readServer(l Location, project, name string, n *Node, isTollgate func(string) bool) *Server {
	s := &Server{Client: l.Client, File: l.Path, Project: project, Name: name, node: n}
	if n.Kind != Object {
		return s
	}
	if env := n.Get("env"); env != nil && env.Kind == Object {
		s.Env = map[string]string{}
		for _, m := range env.Members {
			s.Env[m.Key] = m.Value.Str
		}
	}
	if c := n.Get("cwd"); c != nil && c.Kind == String {
		s.Cwd = c.Str
	}
	if c := n.Get("command"); c != nil && c.Kind == String && c.Str != "" {
		s.Transport = Stdio
		s.Command = c.Str
		s.Args, _ = n.Get("args").Strings()
		if isTollgate != nil && isTollgate(s.Command) {
			s.Guarded, s.PolicyPath = guardedBy(s.Args)
		}
		return s
	}
	for _, key := range []string{"url", "serverUrl"} {
		if u := n.Get(key); u != nil && u.Kind == String && u.Str != "" {
			s.Transport = Remote
			s.URL = u.Str
		}
	}
	if h := n.Get("headers"); h != nil && h.Kind == Object {
		for _, m := range h.Members {
			s.Headers = append(s.Headers, Header{Name: m.Key, Value: m.Value.Str})
		}
	}
	return s
}

// guardedBy tells whether tollgate's arguments run a server under a policy
// (run, or Intercept's form with flags first) and returns the policy.
func guardedBy(args []string) (bool, string) {
	if len(args) == 0 {
		return false, ""
	}
	if args[0] != "run" && !strings.HasPrefix(args[0], "-") {
		return false, "" // tollgate scan, demo…: not a guard
	}
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, flag := range []string{"-c", "--c", "-config", "--config"} {
			if a == flag && i+1 < len(args) {
				return true, args[i+1]
			}
			if v, ok := strings.CutPrefix(a, flag+"="); ok {
				return true, v
			}
		}
	}
	return true, ""
}

// IsTollgate returns a test for "this command is tollgate": its base name is
// tollgate (tollgate.exe), or it is the same file as self.
func IsTollgate(self string) func(command string) bool {
	return func(command string) bool {
		base := strings.TrimSuffix(strings.ToLower(filepath.Base(command)), ".exe")
		if base == "tollgate" {
			return true
		}
		if self == "" {
			return false
		}
		a, errA := os.Stat(command)
		b, errB := os.Stat(self)
		return errA == nil && errB == nil && os.SameFile(a, b)
	}
}
