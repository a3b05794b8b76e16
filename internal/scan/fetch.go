package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// ProtocolVersion is the MCP revision the scanner asks for.
const ProtocolVersion = "2025-11-25"

// maxPages bounds a tools/list walk: a server that keeps handing out new
// cursors is broken, and a scan must end.
const maxPages = 10000

// Options configure a fetch.
type Options struct {
	// ClientName and ClientVersion are sent as clientInfo.
	ClientName, ClientVersion string
	// Progress, if set, is told what the fetch is doing ("initializing",
	// "page 3: 150 tools"). It may be called from the fetching goroutine only.
	Progress func(msg string)
	// Env is a stdio server's whole environment ("KEY=value" entries; nil:
	// Tollgate's own). Its values may be secrets: errors never quote them
	// here, but a server's stderr, quoted in errors, may.
	Env []string
	// Dir is a stdio server's working directory ("": Tollgate's).
	Dir string
}

func (o Options) progress(format string, args ...any) {
	if o.Progress != nil {
		o.Progress(fmt.Sprintf(format, args...))
	}
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *rpcError) Error() string {
	s := "server error " + strconv.Itoa(e.Code) + ": " + e.Message
	if len(e.Data) > 0 && len(e.Data) < 300 {
		s += " (" + string(e.Data) + ")"
	}
	return s
}

// ErrServer marks errors the server answered with (as opposed to transport
// failures).
var ErrServer = errors.New("server error")

func (e *rpcError) Is(target error) bool { return target == ErrServer }

// message is any JSON-RPC message; which fields are present says which kind.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

func (m *message) isResponse() bool { return m.Method == "" && len(m.ID) > 0 }
func (m *message) isRequest() bool  { return m.Method != "" && len(m.ID) > 0 && string(m.ID) != "null" }

// answer is the reply a client owes a server→client request: ping gets an
// empty result, everything else "method not found" (the scanner offers no
// client capabilities).
func answer(req *message) message {
	if req.Method == "ping" {
		return message{JSONRPC: "2.0", ID: req.ID, Result: json.RawMessage("{}")}
	}
	return message{JSONRPC: "2.0", ID: req.ID, Error: &rpcError{Code: -32601, Message: "method not found: " + req.Method}}
}

type initializeResult struct {
	ProtocolVersion string `json:"protocolVersion"`
	ServerInfo      struct {
		Name    string `json:"name"`
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"serverInfo"`
	Capabilities map[string]json.RawMessage `json:"capabilities"`
}

// handshake runs initialize and notifications/initialized.
func handshake(ctx context.Context, c *connCaller, o Options) (Server, error) {
	o.progress("initializing")
	params := map[string]any{
		"protocolVersion": ProtocolVersion,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]string{"name": cmpOr(o.ClientName, "tollgate-scan"), "version": cmpOr(o.ClientVersion, "dev")},
	}
	raw, err := c.call(ctx, "initialize", params)
	if err != nil {
		return Server{}, fmt.Errorf("initialize: %w", err)
	}
	var res initializeResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return Server{}, fmt.Errorf("initialize: malformed result: %w", err)
	}
	if res.ProtocolVersion == "" {
		return Server{}, errors.New("initialize: result has no protocolVersion")
	}
	if err := c.notify(ctx, "notifications/initialized", nil); err != nil {
		return Server{}, fmt.Errorf("notifications/initialized: %w", err)
	}
	return Server{
		Name:            res.ServerInfo.Name,
		Title:           res.ServerInfo.Title,
		Version:         res.ServerInfo.Version,
		ProtocolVersion: res.ProtocolVersion,
	}, nil
}

// listAllTools walks every tools/list page.
func listAllTools(ctx context.Context, c *connCaller, o Options) ([]Tool, error) {
	var tools []Tool
	seen := map[string]bool{}
	cursor := ""
	for page := 1; ; page++ {
		if page > maxPages {
			return nil, fmt.Errorf("tools/list: more than %d pages; giving up", maxPages)
		}
		var params any
		if cursor != "" {
			params = map[string]string{"cursor": cursor}
		}
		raw, err := c.call(ctx, "tools/list", params)
		if err != nil {
			var re *rpcError
			if errors.As(err, &re) && re.Code == -32601 {
				return nil, fmt.Errorf("tools/list: the server does not offer tools: %w", err)
			}
			return nil, fmt.Errorf("tools/list (page %d): %w", page, err)
		}
		var res listResult
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, fmt.Errorf("tools/list (page %d): malformed result: %w", page, err)
		}
		tools = append(tools, res.Tools...)
		o.progress("tools/list page %d: %d tools so far", page, len(tools))
		if res.NextCursor == "" {
			break
		}
		if seen[res.NextCursor] {
			return nil, fmt.Errorf("tools/list (page %d): server repeated cursor %q", page, res.NextCursor)
		}
		seen[res.NextCursor] = true
		cursor = res.NextCursor
	}
	if err := checkTools(tools); err != nil {
		return nil, fmt.Errorf("tools/list: %w", err)
	}
	return tools, nil
}

// fetch opens a session with d, lists the server's tools and ends the
// session. local is the prefix of the errors the transport makes itself
// (see connCaller); explain, when not nil, adds what is known about the
// server to a failure.
func fetch(ctx context.Context, d transport.Dialer, local string, explain func(error) error, o Options, source string) (Inventory, error) {
	conn, release, err := d.Dial(ctx, &transport.Session{ID: "scan"})
	if err != nil {
		return Inventory{}, err
	}
	c := newConnCaller(conn, local)
	defer c.close(release)
	inv, err := discover(ctx, c, o, source)
	if err != nil && explain != nil {
		// Before close: a server stopped by it has an exit status of
		// Tollgate's making.
		err = explain(err)
	}
	return inv, err
}

func discover(ctx context.Context, c *connCaller, o Options, source string) (Inventory, error) {
	srv, err := handshake(ctx, c, o)
	if err != nil {
		return Inventory{}, err
	}
	srv.Source = source
	tools, err := listAllTools(ctx, c, o)
	if err != nil {
		return Inventory{}, err
	}
	return Inventory{Server: srv, Tools: tools}, nil
}
