package mcp

import (
	"errors"
	"fmt"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// ToolFilter edits tools/list results.
type ToolFilter struct {
	// Hidden reports whether a tool must be removed from the list.
	Hidden func(name string) bool
	// Seen, when not nil, is called with each kept tool's name and raw
	// definition (aliasing the message buffer: copy what you keep).
	Seen func(name string, tool []byte)
}

// FilterList removes hidden tools from the tools/list response msg (a whole
// raw JSON-RPC message whose result is result) and returns the message to
// forward: msg itself when nothing was removed, otherwise a copy in which only
// the tools array changed — every other byte, `_meta` and `nextCursor`
// included, is as the server sent it.
func (f ToolFilter) FilterList(msg, result []byte) ([]byte, error) {
	var kept [][]byte
	dropped := false
	tools, err := jsonrpc.ArrayMember(result, "tools", func(tool []byte) error {
		name := toolName(tool)
		if f.Hidden != nil && f.Hidden(name) {
			dropped = true
			return nil
		}
		if f.Seen != nil {
			f.Seen(name, tool)
		}
		kept = append(kept, tool)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filter tools/list: %w", err)
	}
	if tools == nil || !dropped {
		return msg, nil
	}
	start := jsonrpc.Offset(msg, tools)
	end := start + len(tools)
	n := len(msg) - len(tools) + 2
	for _, t := range kept {
		n += len(t) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, msg[:start]...)
	out = append(out, '[')
	for i, t := range kept {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, t...)
	}
	out = append(out, ']')
	out = append(out, msg[end:]...)
	return out, nil
}

// errFound stops a walk early.
var errFound = errors.New("found")

// toolName returns a tool definition's name, or "" when it has none. It
// stops at the name, which servers put first.
func toolName(tool []byte) string {
	var name string
	_ = jsonrpc.Members(tool, func(k string, val []byte) error {
		if k == "name" {
			name, _ = jsonrpc.Unquote(val)
			return errFound
		}
		return nil
	})
	return name
}

// RequiredArgs returns inputSchema.required of a raw tool definition, and
// whether the tool had an inputSchema at all.
func RequiredArgs(tool []byte) (required []string, ok bool) {
	_ = jsonrpc.Members(tool, func(k string, schema []byte) error {
		if k != "inputSchema" || schema[0] != '{' {
			return nil
		}
		ok = true
		return jsonrpc.Members(schema, func(sk string, val []byte) error {
			if sk == "required" && val[0] == '[' {
				return jsonrpc.Elements(val, func(e []byte) error {
					if s, isStr := jsonrpc.Unquote(e); isStr {
						required = append(required, s)
					}
					return nil
				})
			}
			return nil
		})
	})
	return required, ok
}
