package clientconf

import (
	"path/filepath"
	"strings"
)

// The clients init knows, by the name --client takes.
const (
	ClaudeDesktop = "claude-desktop"
	ClaudeCode    = "claude-code"
	Cursor        = "cursor"
	VSCode        = "vscode"
	Windsurf      = "windsurf"
)

// Clients lists every known client in the order init reports them.
var Clients = []string{ClaudeDesktop, ClaudeCode, Cursor, VSCode, Windsurf}

// Title is a client's name for people.
func Title(client string) string {
	switch client {
	case ClaudeDesktop:
		return "Claude Desktop"
	case ClaudeCode:
		return "Claude Code"
	case Cursor:
		return "Cursor"
	case VSCode:
		return "VS Code"
	case Windsurf:
		return "Windsurf"
	}
	return client
}

// Shape says where in a file the servers are.
type Shape int

const (
	// ShapeMCPServers: a top-level "mcpServers" object (Claude Desktop,
	// Cursor, Windsurf, a project's .mcp.json).
	ShapeMCPServers Shape = iota + 1
	// ShapeClaudeJSON: ~/.claude.json, with "mcpServers" at the top and
	// under each of "projects".
	ShapeClaudeJSON
	// ShapeVSCodeSettings: a VS Code settings.json, "mcp": {"servers": …}.
	ShapeVSCodeSettings
	// ShapeServers: a top-level "servers" object (VS Code's mcp.json).
	ShapeServers
)

// Location is one configuration file a client reads.
type Location struct {
	Client string
	Path   string
	Shape  Shape
	// Project is set for a file that belongs to one project (the current
	// directory's .mcp.json, .cursor/mcp.json, .vscode/mcp.json).
	Project bool
}

// Env is what the locations depend on. It is a value, not the process's
// environment, so that every OS's table can be tested on any machine.
type Env struct {
	GOOS string // runtime.GOOS
	Home string // $HOME (%USERPROFILE% on Windows)
	// AppData is %APPDATA% on Windows; "" means Home\AppData\Roaming.
	AppData string
	// XDGConfigHome is $XDG_CONFIG_HOME on Linux; "" (or a relative path,
	// which the XDG spec says to ignore) means ~/.config.
	XDGConfigHome string
	// Dir is the project directory whose project files are looked at
	// (the current directory); "" skips project files.
	Dir string
}

// userConfigDir is where desktop apps keep their settings on each OS.
func (e Env) userConfigDir() string {
	switch e.GOOS {
	case "darwin":
		return filepath.Join(e.Home, "Library", "Application Support")
	case "windows":
		if e.AppData != "" {
			return e.AppData
		}
		return filepath.Join(e.Home, "AppData", "Roaming")
	}
	if filepath.IsAbs(e.XDGConfigHome) {
		return e.XDGConfigHome
	}
	return filepath.Join(e.Home, ".config")
}

// Locations lists every file the clients read on env's OS, whether or not
// it exists, in a stable order: clients in the order of Clients, user files
// before project files.
func Locations(e Env) []Location {
	cfg := e.userConfigDir()
	locs := []Location{
		{Client: ClaudeDesktop, Path: filepath.Join(cfg, "Claude", "claude_desktop_config.json"), Shape: ShapeMCPServers},
		{Client: ClaudeCode, Path: filepath.Join(e.Home, ".claude.json"), Shape: ShapeClaudeJSON},
		{Client: Cursor, Path: filepath.Join(e.Home, ".cursor", "mcp.json"), Shape: ShapeMCPServers},
		{Client: VSCode, Path: filepath.Join(cfg, "Code", "User", "settings.json"), Shape: ShapeVSCodeSettings},
		{Client: VSCode, Path: filepath.Join(cfg, "Code", "User", "mcp.json"), Shape: ShapeServers},
		{Client: Windsurf, Path: filepath.Join(e.Home, ".codeium", "windsurf", "mcp_config.json"), Shape: ShapeMCPServers},
	}
	if e.Dir != "" {
		locs = append(locs,
			Location{Client: ClaudeCode, Path: filepath.Join(e.Dir, ".mcp.json"), Shape: ShapeMCPServers, Project: true},
			Location{Client: Cursor, Path: filepath.Join(e.Dir, ".cursor", "mcp.json"), Shape: ShapeMCPServers, Project: true},
			Location{Client: VSCode, Path: filepath.Join(e.Dir, ".vscode", "mcp.json"), Shape: ShapeServers, Project: true},
		)
	}
	// Stable: user files first within a client, as listed.
	sorted := make([]Location, 0, len(locs))
	for _, c := range Clients {
		for _, l := range locs {
			if l.Client == c {
				sorted = append(sorted, l)
			}
		}
	}
	return sorted
}

// Guess names the client and shape of a file given by path (init --config),
// from its name and, failing that, from what it holds.
func Guess(path string, root *Node) Location {
	base := filepath.Base(path)
	dir := filepath.Base(filepath.Dir(path))
	l := Location{Path: path, Shape: ShapeMCPServers}
	switch {
	case base == "claude_desktop_config.json":
		l.Client = ClaudeDesktop
	case base == ".claude.json":
		l.Client, l.Shape = ClaudeCode, ShapeClaudeJSON
	case base == ".mcp.json":
		l.Client, l.Project = ClaudeCode, true
	case base == "mcp_config.json":
		l.Client = Windsurf
	case dir == ".cursor":
		l.Client = Cursor
	case base == "settings.json":
		l.Client, l.Shape = VSCode, ShapeVSCodeSettings
	case dir == ".vscode" || (strings.EqualFold(dir, "User") && base == "mcp.json"):
		l.Client, l.Shape = VSCode, ShapeServers
	case root.Get("mcpServers") != nil:
		l.Client = ClaudeCode
	case root.Get("servers") != nil:
		l.Client, l.Shape = VSCode, ShapeServers
	default:
		l.Client = ClaudeDesktop
	}
	return l
}
