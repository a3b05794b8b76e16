package mcp

import (
	"strconv"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// Decision is what Tollgate tells the agent about a call it answered itself.
type Decision struct {
	Action       string // "deny" or "approval_required"
	Rule         string
	Reason       string
	RetryAfterMS int64  // 0: not a limit
	ApprovalID   string // approval_required only
	ExpiresAt    string // approval_required only, RFC 3339
}

// AppendDenial appends a complete JSON-RPC response to dst that answers the
// request id with a tool result: isError true, the human-readable text, and
// the machine-readable decision under _meta[DecisionMetaKey].
func AppendDenial(dst, id []byte, text string, d Decision) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","id":`...)
	dst = append(dst, id...)
	dst = append(dst, `,"result":`...)
	dst = AppendDenialResult(dst, text, d)
	return append(dst, '}')
}

// AppendDenialResult appends the tool result AppendDenial answers with:
// isError true, the text, and the decision under _meta[DecisionMetaKey].
func AppendDenialResult(dst []byte, text string, d Decision) []byte {
	dst = append(dst, `{"content":[{"type":"text","text":`...)
	dst = jsonrpc.AppendString(dst, text)
	dst = append(dst, `}],"isError":true,"_meta":{"`+DecisionMetaKey+`":`...)
	dst = AppendDecision(dst, d)
	return append(dst, "}}"...)
}

// AppendDecision appends the decision as a JSON object.
func AppendDecision(dst []byte, d Decision) []byte {
	dst = append(dst, `{"action":`...)
	dst = jsonrpc.AppendString(dst, d.Action)
	dst = append(dst, `,"rule":`...)
	dst = jsonrpc.AppendString(dst, d.Rule)
	dst = append(dst, `,"reason":`...)
	dst = jsonrpc.AppendString(dst, d.Reason)
	if d.RetryAfterMS > 0 {
		dst = append(dst, `,"retry_after_ms":`...)
		dst = strconv.AppendInt(dst, d.RetryAfterMS, 10)
	}
	if d.ApprovalID != "" {
		dst = append(dst, `,"approval_id":`...)
		dst = jsonrpc.AppendString(dst, d.ApprovalID)
	}
	if d.ExpiresAt != "" {
		dst = append(dst, `,"expires_at":`...)
		dst = jsonrpc.AppendString(dst, d.ExpiresAt)
	}
	return append(dst, '}')
}

// AppendUnknownTool appends the response a server gives for a tool it does
// not have (the specification's example: -32602 "Unknown tool: NAME"). It is
// how a hidden tool is answered, revealing nothing about the policy.
func AppendUnknownTool(dst, id []byte, name string) []byte {
	return jsonrpc.AppendError(dst, id, jsonrpc.CodeInvalidParams, "Unknown tool: "+name, nil)
}
