// Package jsonrpc reads and writes JSON-RPC 2.0 frames for MCP without
// re-encoding them: only the envelope is parsed, the original bytes are kept,
// and ids stay byte-for-byte what the peer sent. Parsing is strict where an
// ambiguity could make Tollgate judge one message while a server executes
// another: duplicate keys and keys that differ from a protocol key only by
// case are rejected. It depends on the standard library only.
package jsonrpc

import (
	"bytes"
	"fmt"
	"strings"
)

// Standard JSON-RPC error codes.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)

// Message is one JSON-RPC message. Every byte slice aliases the buffer the
// message was parsed from: a Message is valid only as long as that buffer.
type Message struct {
	// Raw is the whole message as received.
	Raw []byte
	// ID is the raw id value ("1", `"a"`, "null"), nil when absent.
	ID []byte
	// Method is the decoded method name, empty for responses.
	Method string
	// Params, Result and Error are the raw values, nil when absent.
	Params []byte
	Result []byte
	Error  []byte
}

// IsRequest reports whether m is a request (a method and an id).
func (m *Message) IsRequest() bool { return m.Method != "" && m.ID != nil }

// IsNotification reports whether m is a notification (a method, no id).
func (m *Message) IsNotification() bool { return m.Method != "" && m.ID == nil }

// IsResponse reports whether m is a response (a result or an error).
func (m *Message) IsResponse() bool { return m.Method == "" }

// Error is a JSON-RPC error object. As a Go error it is what a frame that
// cannot be accepted is answered with.
type Error struct {
	Code    int
	Message string
	// ID is the raw id of the offending request when it could be read, so
	// the answer can be matched; nil means the answer carries id null.
	ID []byte
}

func (e *Error) Error() string { return fmt.Sprintf("jsonrpc %d: %s", e.Code, e.Message) }

// protocol keys of the envelope, in the order they are tested.
var envelopeKeys = [...]string{"jsonrpc", "id", "method", "params", "result", "error"}

// Parse parses one JSON-RPC message object. With strict set (messages from an
// untrusted client) strings must be valid UTF-8 without unpaired surrogates —
// except in the params of a tools/call request, which are only skimmed: the
// caller must check them with CheckUnambiguous (mcp.ParseCall does), so that
// they are read strictly once, not twice. The returned error is always an
// *Error.
func Parse(b []byte, strict bool) (Message, error) {
	m := Message{Raw: b}
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		if _, err := skipValue(b, i, 0, strict); err != nil {
			return m, &Error{Code: CodeParseError, Message: "parse error: " + err.Error()}
		}
		return m, &Error{Code: CodeInvalidRequest, Message: "invalid request: not a JSON-RPC object"}
	}
	var seen [len(envelopeKeys)]bool
	var version []byte
	var method []byte
	var methodEsc bool
	var protoErr *Error
	// params is skimmed here and checked below: a tools/call's params get
	// their one strict reading from CheckUnambiguous (mcp.ParseCall).
	end, err := skipObjectSkim(b, i, strict, "params", func(key []byte, esc bool, val []byte) error {
		k := key
		if esc {
			k = []byte(unescape(key))
		}
		idx := -1
		ascii := isASCII(k)
		for n, pk := range envelopeKeys {
			if string(k) == pk {
				idx = n
				break
			}
			// Folding keeps the length of ASCII text: skip the costly compare.
			if ascii && len(k) != len(pk) {
				continue
			}
			if protoErr == nil && strings.EqualFold(string(k), pk) {
				protoErr = &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("invalid request: key %q differs from protocol key %q only by case", k, pk)}
			}
		}
		if idx < 0 {
			return nil
		}
		if seen[idx] {
			if protoErr == nil {
				protoErr = &Error{Code: CodeInvalidRequest, Message: fmt.Sprintf("invalid request: duplicate key %q", envelopeKeys[idx])}
			}
			return nil
		}
		seen[idx] = true
		switch idx {
		case 0:
			version = val
		case 1:
			m.ID = val
		case 2:
			if len(val) > 0 && val[0] == '"' {
				raw, _, e, _ := scanString(val, 0, false)
				method, methodEsc = raw, e
			} else if protoErr == nil {
				protoErr = &Error{Code: CodeInvalidRequest, Message: "invalid request: method is not a string"}
			}
		case 3:
			m.Params = val
		case 4:
			m.Result = val
		case 5:
			m.Error = val
		}
		return nil
	})
	if err != nil {
		return m, &Error{Code: CodeParseError, Message: "parse error: " + err.Error()}
	}
	if j := skipWS(b, end); j != len(b) {
		return m, &Error{Code: CodeParseError, Message: "parse error: data after the message"}
	}
	if m.ID != nil && !validID(m.ID) {
		if protoErr == nil {
			protoErr = &Error{Code: CodeInvalidRequest, Message: "invalid request: id must be a string or a number"}
		}
		m.ID = nil
	}
	if protoErr != nil {
		protoErr.ID = m.ID
		return m, protoErr
	}
	if string(version) != `"2.0"` {
		return m, &Error{Code: CodeInvalidRequest, Message: `invalid request: jsonrpc must be "2.0"`, ID: m.ID}
	}
	if method != nil {
		if methodEsc {
			m.Method = unescape(method)
		} else {
			m.Method = intern(method)
		}
		if strict && m.Params != nil && m.Method != "tools/call" {
			if _, err := skipValue(m.Params, 0, 1, true); err != nil {
				return m, &Error{Code: CodeParseError, Message: "parse error: " + err.Error()}
			}
		}
		if m.Method == "" {
			return m, &Error{Code: CodeInvalidRequest, Message: "invalid request: empty method", ID: m.ID}
		}
		if m.Result != nil || m.Error != nil {
			return m, &Error{Code: CodeInvalidRequest, Message: "invalid request: a request cannot carry result or error", ID: m.ID}
		}
		if m.Params != nil && m.Params[0] != '{' && m.Params[0] != '[' {
			return m, &Error{Code: CodeInvalidRequest, Message: "invalid request: params must be an object or an array", ID: m.ID}
		}
		return m, nil
	}
	if (m.Result == nil) == (m.Error == nil) {
		return m, &Error{Code: CodeInvalidRequest, Message: "invalid request: a message needs a method, or exactly one of result and error", ID: m.ID}
	}
	if m.ID == nil {
		return m, &Error{Code: CodeInvalidRequest, Message: "invalid request: response without id"}
	}
	return m, nil
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// validID reports whether a raw id is a string, a number, or null.
func validID(id []byte) bool {
	switch c := id[0]; {
	case c == '"', c == '-', c >= '0' && c <= '9':
		return true
	case string(id) == "null":
		return true
	}
	return false
}

// IsBatch reports whether the frame is a JSON array (a batch).
func IsBatch(frame []byte) bool {
	i := skipWS(frame, 0)
	return i < len(frame) && frame[i] == '['
}

// SplitBatch returns the raw elements of a batch frame. An empty batch is an
// error, as JSON-RPC requires.
func SplitBatch(frame []byte, strict bool) ([][]byte, error) {
	i := skipWS(frame, 0)
	if i >= len(frame) || frame[i] != '[' {
		return nil, &Error{Code: CodeInvalidRequest, Message: "invalid request: not a batch"}
	}
	var out [][]byte
	j := skipWS(frame, i+1)
	if j < len(frame) && frame[j] == ']' {
		if skipWS(frame, j+1) != len(frame) {
			return nil, &Error{Code: CodeParseError, Message: "parse error: data after the message"}
		}
		return nil, &Error{Code: CodeInvalidRequest, Message: "invalid request: empty batch"}
	}
	for {
		s := j
		var err error
		j, err = skipValue(frame, j, 1, strict)
		if err != nil {
			return nil, &Error{Code: CodeParseError, Message: "parse error: " + err.Error()}
		}
		out = append(out, frame[s:j])
		j = skipWS(frame, j)
		if j >= len(frame) {
			return nil, &Error{Code: CodeParseError, Message: "parse error: unterminated batch"}
		}
		if frame[j] == ']' {
			if skipWS(frame, j+1) != len(frame) {
				return nil, &Error{Code: CodeParseError, Message: "parse error: data after the message"}
			}
			return out, nil
		}
		if frame[j] != ',' {
			return nil, &Error{Code: CodeParseError, Message: "parse error: invalid batch"}
		}
		j = skipWS(frame, j+1)
	}
}

// commonMethods are returned without allocating when a method matches.
var commonMethods = [...]string{
	"tools/call", "tools/list", "initialize", "notifications/initialized", "ping",
	"notifications/progress", "notifications/cancelled", "notifications/message",
	"resources/read", "resources/list", "resources/templates/list", "prompts/get",
	"prompts/list", "server/discover", "sampling/createMessage", "elicitation/create",
	"roots/list", "completion/complete", "logging/setLevel",
	"notifications/tools/list_changed", "notifications/resources/list_changed",
	"notifications/prompts/list_changed", "notifications/roots/list_changed",
	"notifications/resources/updated", "resources/subscribe", "resources/unsubscribe",
}

func intern(b []byte) string {
	for _, s := range commonMethods {
		if string(b) == s {
			return s
		}
	}
	return string(b)
}

// unescape decodes the raw contents of a JSON string that the scanner has
// already validated. Unpaired surrogates become U+FFFD, as encoding/json does.
func unescape(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw)
	}
	var sb strings.Builder
	sb.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case '"', '\\', '/':
			sb.WriteByte(raw[i])
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, _ := hex4(raw, i+1)
			i += 4
			if r >= 0xD800 && r < 0xDC00 && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				if r2, ok := hex4(raw, i+3); ok && r2 >= 0xDC00 && r2 <= 0xDFFF {
					r = (r-0xD800)<<10 | (r2 - 0xDC00) + 0x10000
					i += 6
				} else {
					r = 0xFFFD
				}
			} else if r >= 0xD800 && r <= 0xDFFF {
				r = 0xFFFD
			}
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// Unquote decodes a raw JSON string value (with its quotes). It reports false
// when v is not a valid JSON string.
func Unquote(v []byte) (string, bool) {
	raw, end, esc, err := scanString(v, 0, false)
	if err != nil || end != len(v) {
		return "", false
	}
	if !esc {
		return string(raw), true
	}
	return unescape(raw), true
}
