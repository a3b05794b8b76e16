// Package mcp knows the few MCP shapes the proxy reads: method names,
// protocol versions and eras, tools/call params, tools/list results, and the
// tool results Tollgate writes itself. It reads and edits raw JSON through
// package jsonrpc and never round-trips a message through Go structs.
package mcp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// Method names the proxy treats specially.
const (
	MethodInitialize         = "initialize"
	MethodDiscover           = "server/discover"
	MethodToolsCall          = "tools/call"
	MethodToolsList          = "tools/list"
	MethodResourcesRead      = "resources/read"
	MethodPromptsGet         = "prompts/get"
	MethodPromptsList        = "prompts/list"
	MethodResourcesList      = "resources/list"
	MethodTemplatesList      = "resources/templates/list"
	MethodResourcesSubscribe = "resources/subscribe"
	MethodCompletion         = "completion/complete"
	MethodSampling           = "sampling/createMessage"
	MethodElicitation        = "elicitation/create"
	MethodRootsList          = "roots/list"

	NotificationCancelled        = "notifications/cancelled"
	NotificationToolsListChanged = "notifications/tools/list_changed"
	NotificationMessage          = "notifications/message"  // a server's log message
	NotificationProgress         = "notifications/progress" // progress of a request, with a message
)

// Protocol revisions, oldest first.
const (
	Version20241105 = "2024-11-05"
	Version20250326 = "2025-03-26"
	Version20250618 = "2025-06-18"
	Version20251125 = "2025-11-25"
	Version20260728 = "2026-07-28"
)

// Versions lists every revision Tollgate speaks, oldest first.
var Versions = []string{Version20241105, Version20250326, Version20250618, Version20251125, Version20260728}

// MetaProtocolVersion is the _meta key that carries the protocol version on
// every request of the stateless 2026-07-28 revision.
const MetaProtocolVersion = "io.modelcontextprotocol/protocolVersion"

// MetaClientCapabilities is the _meta key that carries the client's
// capabilities on requests of the 2026-07-28 revision.
const MetaClientCapabilities = "io.modelcontextprotocol/clientCapabilities"

// DecisionMetaKey is the _meta key under which Tollgate explains a decision.
const DecisionMetaKey = "dev.tollgate/decision"

// SupportsBatch reports whether a negotiated revision allows JSON-RPC batches
// (only 2025-03-26 did).
func SupportsBatch(version string) bool { return version == Version20250326 }

// KnownVersion reports whether v is a revision Tollgate speaks.
func KnownVersion(v string) bool {
	for _, k := range Versions {
		if k == v {
			return true
		}
	}
	return false
}

// ErrInvalidParams is wrapped by every error ParseCall returns.
var ErrInvalidParams = errors.New("invalid tools/call params")

// Call is what the gate judges of a tools/call.
type Call struct {
	Name string
	// Args is the raw arguments object, "{}" when the client sent none.
	Args []byte
	// Retry reports a multi round-trip retry (2026-07-28): the call
	// carries inputResponses or requestState. RequestState is the
	// requestState string, "" when absent. InputResponses is the raw
	// inputResponses object, nil when absent.
	Retry          bool
	RequestState   string
	InputResponses []byte
	// Task reports a task-augmented call (2025-11-25's params.task): its
	// result may be a task.
	Task bool
	// Meta is the raw params._meta value, nil when absent.
	Meta []byte
}

var emptyArgs = []byte("{}")

// callKeys are the protocol keys of tools/call params.
var callKeys = [...]string{"name", "arguments", "_meta", "task", "inputResponses", "requestState"}

// ParseCall reads tools/call params strictly: an object whose every string is
// valid UTF-8 and in which no object, at any depth, has duplicate keys or keys
// equal under case folding; a string name; arguments absent or an object; no
// key that differs from a protocol key only by case.
func ParseCall(params []byte) (Call, error) {
	var c Call
	if params == nil {
		return c, fmt.Errorf("%w: missing params", ErrInvalidParams)
	}
	if p := bytes.TrimLeft(params, " \t\r\n"); len(p) == 0 || p[0] != '{' {
		return c, fmt.Errorf("%w: params must be an object", ErrInvalidParams)
	}
	haveName := false
	// One strict pass checks ambiguity and reads the members.
	err := jsonrpc.CheckUnambiguousMembers(params, func(key, val []byte) error {
		switch string(key) {
		case "name":
			s, ok := jsonrpc.Unquote(val)
			if !ok {
				return errors.New("name must be a string")
			}
			c.Name, haveName = s, true
		case "arguments":
			if val[0] != '{' {
				return errors.New("arguments must be an object")
			}
			c.Args = val
		case "requestState":
			s, ok := jsonrpc.Unquote(val)
			if !ok {
				return errors.New("requestState must be a string")
			}
			c.RequestState, c.Retry = s, true
		case "_meta":
			c.Meta = val
		case "task":
			c.Task = true
		case "inputResponses":
			if val[0] != '{' {
				return errors.New("inputResponses must be an object")
			}
			c.InputResponses, c.Retry = val, true
		default:
			for _, pk := range callKeys {
				if string(key) != pk && strings.EqualFold(string(key), pk) {
					return fmt.Errorf("key %q differs from protocol key %q only by case", key, pk)
				}
			}
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrInvalidParams, err)
	}
	if !haveName || c.Name == "" {
		return c, fmt.Errorf("%w: name must be a non-empty string", ErrInvalidParams)
	}
	if c.Args == nil {
		c.Args = emptyArgs
	}
	return c, nil
}

// MetaString returns the string value of key in params._meta, or "".
func MetaString(params []byte, key string) string {
	if len(params) == 0 || params[0] != '{' {
		return ""
	}
	var out string
	_ = jsonrpc.Members(params, func(k string, val []byte) error {
		if k != "_meta" || len(val) == 0 || val[0] != '{' {
			return nil
		}
		return jsonrpc.Members(val, func(mk string, mv []byte) error {
			if mk == key {
				out, _ = jsonrpc.Unquote(mv)
			}
			return nil
		})
	})
	return out
}

// ParamsValue returns the raw value of a top-level key of a params object,
// nil when absent. It aliases params.
func ParamsValue(params []byte, key string) []byte {
	var out []byte
	if len(params) == 0 || params[0] != '{' {
		return nil
	}
	_ = jsonrpc.Members(params, func(k string, val []byte) error {
		if k == key {
			out = val
		}
		return nil
	})
	return out
}

// MetaValue returns the raw value of key in params._meta, nil when absent.
func MetaValue(params []byte, key string) []byte {
	meta := ParamsValue(params, "_meta")
	if meta == nil || meta[0] != '{' {
		return nil
	}
	return ParamsValue(meta, key)
}

// ResultString returns the string value of a top-level key of a result
// object (e.g. protocolVersion of an initialize result), or "".
func ResultString(result []byte, key string) string {
	var out string
	_ = jsonrpc.Members(result, func(k string, val []byte) error {
		if k == key {
			out, _ = jsonrpc.Unquote(val)
		}
		return nil
	})
	return out
}

// IsErrorResult reports whether a tools/call result carries "isError": true.
func IsErrorResult(result []byte) bool {
	found := false
	_ = jsonrpc.Members(result, func(k string, val []byte) error {
		if k == "isError" && string(val) == "true" {
			found = true
		}
		return nil
	})
	return found
}
