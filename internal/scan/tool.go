package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Tool is one entry of a tools/list result, as the server describes it.
type Tool struct {
	Name        string          `json:"name"`
	Title       string          `json:"title,omitempty"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema,omitempty"`
	Annotations *Annotations    `json:"annotations,omitempty"`
}

// Annotations are the MCP tool annotations. A nil field was not sent: it is
// no evidence either way, whatever the protocol's default for it is.
type Annotations struct {
	Title           string `json:"title,omitempty"`
	ReadOnlyHint    *bool  `json:"readOnlyHint,omitempty"`
	DestructiveHint *bool  `json:"destructiveHint,omitempty"`
	IdempotentHint  *bool  `json:"idempotentHint,omitempty"`
	OpenWorldHint   *bool  `json:"openWorldHint,omitempty"`
}

// Server describes where the tools came from.
type Server struct {
	Name            string `json:"name,omitempty"`
	Title           string `json:"title,omitempty"`
	Version         string `json:"version,omitempty"`
	ProtocolVersion string `json:"protocolVersion,omitempty"`
	// Source says how the server was reached: "stdio: CMD ARGS",
	// "http: URL" or "file: PATH". Header values are never recorded.
	Source string `json:"source"`
}

// Inventory is everything a scan discovered.
type Inventory struct {
	Server Server
	Tools  []Tool
}

// listResult is the result of one tools/list page.
type listResult struct {
	Tools      []Tool `json:"tools"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// ParseToolsFile reads a saved tools/list result. It accepts the result
// object ({"tools": [...]}), a whole JSON-RPC response carrying it
// ({"result": {"tools": [...]}}), or a bare array of tools.
func ParseToolsFile(data []byte) ([]Tool, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, errors.New("parse tools file: file is empty")
	}
	var tools []Tool
	switch data[0] {
	case '[':
		if err := json.Unmarshal(data, &tools); err != nil {
			return nil, fmt.Errorf("parse tools file: %w", err)
		}
	case '{':
		var doc struct {
			Tools  *[]Tool `json:"tools"`
			Result *struct {
				Tools *[]Tool `json:"tools"`
			} `json:"result"`
			Error *rpcError `json:"error"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("parse tools file: %w", err)
		}
		switch {
		case doc.Tools != nil:
			tools = *doc.Tools
		case doc.Result != nil && doc.Result.Tools != nil:
			tools = *doc.Result.Tools
		case doc.Error != nil:
			return nil, fmt.Errorf("parse tools file: file holds a JSON-RPC error: %w", doc.Error)
		default:
			return nil, errors.New(`parse tools file: no "tools" array (want a tools/list result such as {"tools": [...]})`)
		}
	default:
		return nil, errors.New("parse tools file: not a JSON object or array")
	}
	if err := checkTools(tools); err != nil {
		return nil, fmt.Errorf("parse tools file: %w", err)
	}
	return tools, nil
}

// checkTools rejects lists a report could not represent faithfully.
func checkTools(tools []Tool) error {
	seen := make(map[string]int, len(tools))
	for i, t := range tools {
		if t.Name == "" {
			return fmt.Errorf("tool %d has no name", i)
		}
		if j, dup := seen[t.Name]; dup {
			return fmt.Errorf("tool %q is listed twice (entries %d and %d)", t.Name, j, i)
		}
		seen[t.Name] = i
	}
	return nil
}
