package mcp

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"

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

// ToolList is a tools/list result read once: where its tools array and
// each tool in it lie, each tool's name, and whether the page is the
// list's last. Positions are offsets into the result it was read from, so
// the same ToolList serves any later answer whose result bytes are equal
// (a server sends the same list again and again: see ToolListCache).
type ToolList struct {
	// Start and End bound the tools array in the result; Start is -1 when
	// the result has no tools array.
	Start, End int
	Tools      []ListedTool
	// Complete reports that the result has no nextCursor: the last page.
	Complete bool
}

// ListedTool is one tool of a ToolList: result[Start:End] and its name
// ("" when it has none).
type ListedTool struct {
	Start, End int
	Name       string
}

// ReadToolList reads a tools/list result (the raw result object).
func ReadToolList(result []byte) (*ToolList, error) {
	l := &ToolList{Start: -1, Complete: true}
	tools, err := jsonrpc.ArrayMember(result, "tools", func(tool []byte) error {
		off := jsonrpc.Offset(result, tool)
		l.Tools = append(l.Tools, ListedTool{Start: off, End: off + len(tool), Name: toolName(tool)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read tools/list result: %w", err)
	}
	rest := result
	if tools != nil {
		l.Start = jsonrpc.Offset(result, tools)
		l.End = l.Start + len(tools)
		// The rest of the result, with the array emptied, is small: read
		// nextCursor there rather than walk the array twice.
		rest = make([]byte, 0, len(result)-len(tools)+2)
		rest = append(append(append(rest, result[:l.Start]...), "[]"...), result[l.End:]...)
	}
	_ = jsonrpc.Members(rest, func(k string, v []byte) error {
		if k == "nextCursor" && string(v) != "null" && string(v) != `""` {
			l.Complete = false
		}
		return nil
	})
	return l, nil
}

// Defs returns each tool's raw definition within result (the one l was
// read from, or one equal to it).
func (l *ToolList) Defs(result []byte) [][]byte {
	out := make([][]byte, len(l.Tools))
	for i, t := range l.Tools {
		out[i] = result[t.Start:t.End:t.End]
	}
	return out
}

// Filter is FilterList over a list already read: msg is the whole message,
// result its result (the one l was read from, or one equal to it).
func (l *ToolList) Filter(msg, result []byte, f ToolFilter) []byte {
	if l.Start < 0 {
		return msg
	}
	var drop []bool
	n := len(msg) - (l.End - l.Start) + 2
	for i, t := range l.Tools {
		if f.Hidden != nil && f.Hidden(t.Name) {
			if drop == nil {
				drop = make([]bool, len(l.Tools))
			}
			drop[i] = true
			continue
		}
		if f.Seen != nil {
			f.Seen(t.Name, result[t.Start:t.End:t.End])
		}
		n += t.End - t.Start + 1
	}
	if drop == nil {
		return msg
	}
	base := jsonrpc.Offset(msg, result)
	out := make([]byte, 0, n)
	out = append(out, msg[:base+l.Start]...)
	out = append(out, '[')
	first := true
	for i, t := range l.Tools {
		if drop[i] {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, result[t.Start:t.End]...)
	}
	out = append(out, ']')
	return append(out, msg[base+l.End:]...)
}

// ToolListCache keeps the last tools/list result read, by its length and a
// seeded hash of its bytes: a server answers the same list again and
// again, and reading a list of hundreds of tools costs several times more
// than hashing it. The seed is random per process, so a server cannot
// craft a list that collides with another (a chance of 2^-64 per list
// otherwise). Its zero value is ready to use; it is safe for concurrent use.
type ToolListCache struct {
	mu   sync.Mutex
	sum  uint64
	n    int
	list *ToolList
}

// listSeed seeds ToolListCache's hash.
var listSeed = maphash.MakeSeed()

// Read returns the ToolList of result, from the cache when the last result
// read had the same length and hash. The ToolList is shared: do not
// change it.
func (c *ToolListCache) Read(result []byte) (*ToolList, error) {
	sum := maphash.Bytes(listSeed, result)
	c.mu.Lock()
	if c.list != nil && c.n == len(result) && c.sum == sum {
		l := c.list
		c.mu.Unlock()
		return l, nil
	}
	c.mu.Unlock()
	l, err := ReadToolList(result)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.sum, c.n, c.list = sum, len(result), l
	c.mu.Unlock()
	return l, nil
}
