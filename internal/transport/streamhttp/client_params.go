package streamhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"strings"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/transport/sse"
)

// Revision 2026-07-28 lets a server mark tool parameters with x-mcp-header:
// a client on streamable HTTP must mirror each such argument of a
// tools/call into an Mcp-Param-{Name} header, and must leave out of
// tools/list any tool whose annotations break the rules. The ClientConn
// learns the annotations from the tools/list answers it relays.

// paramHeader is one x-mcp-header annotation: the header's name part and
// the chain of properties keys that leads to the annotated parameter.
type paramHeader struct {
	name string
	path []string
	typ  string // string, integer or boolean
}

// mcpHeaderKey is the schema extension's keyword.
const mcpHeaderKey = "x-mcp-header"

// toolParamHeaders returns a tool definition's x-mcp-header annotations,
// or why they make the tool invalid.
func toolParamHeaders(tool []byte) ([]paramHeader, error) {
	var def struct {
		InputSchema json.RawMessage `json:"inputSchema"`
	}
	if err := json.Unmarshal(tool, &def); err != nil || len(def.InputSchema) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(def.InputSchema))
	d.UseNumber()
	var schema any
	if err := d.Decode(&schema); err != nil {
		return nil, nil
	}
	var hs []paramHeader
	if err := walkSchema(schema, nil, true, &hs); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, h := range hs {
		k := strings.ToLower(h.name)
		if seen[k] {
			return nil, fmt.Errorf("%s %q is used twice (names are compared without case)", mcpHeaderKey, h.name)
		}
		seen[k] = true
	}
	return hs, nil
}

// walkSchema collects the annotations of a schema node at path.
// reachable says the node is the root or is reached from it through
// properties keys only: the one place an annotation may stand.
func walkSchema(node any, path []string, reachable bool, hs *[]paramHeader) error {
	switch n := node.(type) {
	case []any:
		for _, e := range n {
			if err := walkSchema(e, path, false, hs); err != nil {
				return err
			}
		}
	case map[string]any:
		if v, ok := n[mcpHeaderKey]; ok {
			where := strings.Join(path, ".")
			if !reachable || len(path) == 0 {
				return fmt.Errorf("%s at %q is not on a parameter reached through properties alone", mcpHeaderKey, cmpOr(where, "the schema root"))
			}
			name, ok := v.(string)
			if !ok || !isToken(name) {
				return fmt.Errorf("%s of %q is not a header name token", mcpHeaderKey, where)
			}
			t, _ := n["type"].(string)
			if t != "string" && t != "integer" && t != "boolean" {
				return fmt.Errorf("%s on %q, whose type is not string, integer or boolean", mcpHeaderKey, where)
			}
			*hs = append(*hs, paramHeader{name: name, path: append([]string(nil), path...), typ: t})
		}
		for k, v := range n {
			if k == mcpHeaderKey {
				continue
			}
			if k == "properties" && reachable {
				if props, ok := v.(map[string]any); ok {
					for name, sub := range props {
						if err := walkSchema(sub, append(path[:len(path):len(path)], name), true, hs); err != nil {
							return err
						}
					}
					continue
				}
			}
			if err := walkSchema(v, path, false, hs); err != nil {
				return err
			}
		}
	}
	return nil
}

// isToken reports whether s is an HTTP field-name token (RFC 9110 tchar+).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// revision is the protocol revision m is sent under: its own _meta's, or
// the session's.
func (c *ClientConn) revision(m *message) string {
	if m.version != "" {
		return m.version
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.version
}

// toolParams holds the x-mcp-header annotations of the tools a server
// listed, by tool name. It is safe for concurrent use; the zero value is
// ready.
type toolParams struct {
	mu sync.Mutex
	m  map[string][]paramHeader
}

// get returns the annotations of tool.
func (tp *toolParams) get(tool string) []paramHeader {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.m[tool]
}

// learn records the annotations of the tools in a tools/list answer and
// returns the tools whose annotations are invalid, with why.
func (tp *toolParams) learn(frame []byte) map[string]string {
	if !bytes.Contains(frame, []byte(mcpHeaderKey)) {
		return nil
	}
	p, err := jsonrpc.Parse(frame, false)
	if err != nil || p.Result == nil {
		return nil
	}
	learned := map[string][]paramHeader{}
	invalid := map[string]string{}
	f := mcp.ToolFilter{Seen: func(name string, tool []byte) {
		if hs, err := toolParamHeaders(tool); err != nil {
			invalid[name] = err.Error()
		} else {
			learned[name] = hs
		}
	}}
	if _, err := f.FilterList(frame, p.Result); err != nil {
		return nil
	}
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if tp.m == nil {
		tp.m = map[string][]paramHeader{}
	}
	for name, hs := range learned {
		tp.m[name] = hs
	}
	for name := range invalid {
		delete(tp.m, name)
	}
	return invalid
}

// learnTools records the annotations of the tools in a tools/list answer
// and returns the frame to relay: without the tools whose annotations are
// invalid. Frames without annotations pass untouched.
func (c *ClientConn) learnTools(frame []byte) []byte {
	invalid := c.params.learn(frame)
	if len(invalid) == 0 {
		return frame
	}
	for name, why := range invalid {
		c.log.Warn("left out a tool of the upstream's tools/list: its x-mcp-header annotations are invalid",
			"upstream", c.safe, "tool", name, "reason", why)
	}
	p, err := jsonrpc.Parse(frame, false)
	if err != nil {
		return frame
	}
	f := mcp.ToolFilter{Hidden: func(name string) bool { _, bad := invalid[name]; return bad }}
	out, err := f.FilterList(frame, p.Result)
	if err != nil {
		return frame
	}
	return out
}

// setParamHeaders adds the Mcp-Param headers of a tools/call whose tool
// has annotations. An argument that is absent, null, or not a value the
// annotation allows gets no header.
func (c *ClientConn) setParamHeaders(h http.Header, m *message) {
	hs := c.params.get(m.name)
	if len(hs) == 0 {
		return
	}
	p, err := jsonrpc.Parse(m.frame, false)
	if err != nil {
		return
	}
	args := mcp.ParamsValue(p.Params, "arguments")
	for _, ph := range hs {
		if s, ok := headerText(argAt(args, ph.path)); ok {
			h.Set("Mcp-Param-"+ph.name, headerValue(s))
		}
	}
}

// argAt returns the raw value at path in the arguments object, or nil.
func argAt(args []byte, path []string) []byte {
	v := args
	for _, k := range path {
		if v = memberValue(v, k); v == nil {
			return nil
		}
	}
	return v
}

// checkParamHeaders compares a 2026-07-28 tools/call's Mcp-Param headers
// with its arguments, for the tool's annotations hs: an argument with a
// value needs its header, equal after decoding (integers compared as
// numbers); a header needs its argument. It returns what is wrong, "" when
// they agree. Headers of no annotation are ignored.
func checkParamHeaders(h http.Header, args []byte, hs []paramHeader) string {
	for _, ph := range hs {
		name := "Mcp-Param-" + ph.name
		where := "arguments." + strings.Join(ph.path, ".")
		body, has := headerText(argAt(args, ph.path))
		vals := h.Values(name)
		switch {
		case len(vals) == 0 && !has:
			continue
		case len(vals) == 0:
			return "missing " + name + " header for " + where
		case len(vals) > 1:
			return "more than one " + name + " header"
		case !has:
			return name + " header without a value at " + where
		}
		for i := 0; i < len(vals[0]); i++ {
			if c := vals[0][i]; (c < 0x20 || c > 0x7e) && c != '\t' {
				return name + " header holds a character outside visible ASCII"
			}
		}
		got, ok := decodeHeaderValue(vals[0])
		if !ok {
			return name + " header is not valid base64 between =?base64? and ?="
		}
		if ph.typ == "integer" {
			if n, err := integerText(strings.TrimSpace(got)); err == nil {
				got = n
			}
		}
		if got != body {
			return fmt.Sprintf("%s header %s does not match %s %s", name, quote(got), where, quote(body))
		}
	}
	return ""
}

// memberValue returns the raw value of key in the object obj, or nil.
func memberValue(obj []byte, key string) []byte {
	if len(obj) == 0 || obj[0] != '{' {
		return nil
	}
	var val []byte
	_ = jsonrpc.Members(obj, func(k string, v []byte) error {
		if k == key {
			val = v
		}
		return nil
	})
	return val
}

// errNotPrimitive: the value is not one an annotation may mirror.
var errNotPrimitive = errors.New("not a string, integer or boolean")

// headerText converts a raw JSON value to its header text: a string as
// is, an integer in decimal, a boolean as true or false.
func headerText(v []byte) (string, bool) {
	if len(v) == 0 {
		return "", false
	}
	switch v[0] {
	case '"':
		return jsonrpc.Unquote(v)
	case 't', 'f':
		return string(v), string(v) == "true" || string(v) == "false"
	case 'n':
		return "", false
	}
	s, err := integerText(string(v))
	return s, err == nil
}

// integerText writes an integral JSON number (42, -7, 42.0, 4.2e1) in
// decimal.
func integerText(num string) (string, error) {
	f, _, err := big.ParseFloat(num, 10, 256, big.ToNearestEven)
	if err != nil || f.IsInf() || !f.IsInt() {
		return "", errNotPrimitive
	}
	i, _ := f.Int(nil)
	if i.CmpAbs(big.NewInt(math.MaxInt64)) > 0 {
		return "", errNotPrimitive
	}
	return i.String(), nil
}

// errorCode returns the code of a JSON-RPC error object, 0 when it has none.
func errorCode(rpcErr []byte) int {
	var e struct {
		Code int `json:"code"`
	}
	_ = json.Unmarshal(rpcErr, &e)
	return e.Code
}

// maxRefreshPages bounds refreshTools' walk over a tools/list.
const maxRefreshPages = 1000

// refreshID is the id of refreshTools' own tools/list requests.
const refreshID = `"tollgate-tools-refresh"`

// refreshTools reads the upstream's whole tools/list again, under m's
// protocol version and _meta, to learn its tools' x-mcp-header
// annotations: what a client should do when a tools/call is refused with
// HeaderMismatch, before it retries the call once. The answers are not
// relayed. It reports whether every page was read.
func (c *ClientConn) refreshTools(ctx context.Context, m *message, session, version string) bool {
	p, err := jsonrpc.Parse(m.frame, false)
	if err != nil {
		return false
	}
	meta := mcp.ParamsValue(p.Params, "_meta")
	cursor := ""
	for range maxRefreshPages {
		params := []byte(`{`)
		if meta != nil {
			params = append(append(params, `"_meta":`...), meta...)
		}
		if cursor != "" {
			if len(params) > 1 {
				params = append(params, ',')
			}
			params = jsonrpc.AppendString(append(params, `"cursor":`...), cursor)
		}
		params = append(params, '}')
		frame := append([]byte(`{"jsonrpc":"2.0","id":`+refreshID+`,"method":"tools/list","params":`), params...)
		frame = append(frame, '}')
		answer, err := c.refreshPage(ctx, frame, session, version)
		if err != nil {
			c.log.Warn("re-reading the upstream's tools/list after a header mismatch failed", "upstream", c.safe, "err", err)
			return false
		}
		c.learnTools(answer)
		a, err := jsonrpc.Parse(answer, false)
		if err != nil || a.Result == nil {
			return false
		}
		if cursor = mcp.ResultString(a.Result, "nextCursor"); cursor == "" {
			return true
		}
	}
	return false
}

// refreshPage POSTs one tools/list request of refreshTools and returns
// its answer.
func (c *ClientConn) refreshPage(ctx context.Context, frame []byte, session, version string) ([]byte, error) {
	resp, err := c.postRaw(ctx, frame, session, version)
	if err != nil {
		return nil, errors.New(sse.Describe(err))
	}
	if resp.StatusCode/100 != 2 {
		drain(resp.Body)
		return nil, fmt.Errorf("HTTP %s", resp.Status)
	}
	return c.ownAnswer(resp, []byte(refreshID))
}
