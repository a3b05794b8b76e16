package gate

import (
	"bytes"
	"context"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/otel"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
)

// Tracing a tools/call (when Gate.Tracer is set) makes four spans, named
// and attributed as the OpenTelemetry semantic conventions for MCP ask:
//
//	tools/call TOOL    SERVER    the call as Tollgate received it; its parent
//	                             is the client's params._meta.traceparent
//	  tollgate.decide  INTERNAL  the gate's decision (tollgate.decision, tollgate.rule)
//	    tollgate.reserve INTERNAL the state store's reservation, when limits apply
//	  tools/call TOOL  CLIENT    the forwarded call, from forward to answer
//
// The forwarded call's params._meta.traceparent names the CLIENT span, so
// that the server's spans join the client's trace under Tollgate's. Only
// traceparent (and a tracestate that belonged to an unreadable parent) is
// rewritten: every other byte of the call is forwarded as it came.

// Span names and attribute keys (semantic conventions for MCP, and ours).
const (
	spanDecide  = "tollgate.decide"
	spanReserve = "tollgate.reserve"

	attrMethod    = "mcp.method.name"
	attrTool      = "gen_ai.tool.name"
	attrOperation = "gen_ai.operation.name"
	attrRequestID = "jsonrpc.request.id"
	attrSession   = "mcp.session.id"
	attrVersion   = "mcp.protocol.version"
	attrErrorType = "error.type"
	attrRPCStatus = "rpc.response.status_code"
	attrDecision  = "tollgate.decision"
	attrRule      = "tollgate.rule"
	attrCounters  = "tollgate.counters"
	attrAdmitted  = "tollgate.admitted"

	metaTraceparent = "traceparent"
	metaTracestate  = "tracestate"
)

// traceKey carries the decision span in a Judge's context, for the spans
// under it (the store's reservation).
type traceKey struct{}

// judgeTraced is Judge with the call's spans around it.
func (g *Gate) judgeTraced(ctx context.Context, c *proxy.Call) proxy.Ruling {
	in := readMeta(c.Meta)
	attrs := callAttrs(c)
	server := g.Tracer.Start(in.parent, mcp.MethodToolsCall, otel.KindServer, attrs...)
	decide := server.Child(spanDecide, otel.KindInternal)
	r := g.judgeCall(context.WithValue(ctx, traceKey{}, decide), c)

	action, rule := rulingDecision(r)
	decision := []otel.Attr{otel.String(attrDecision, action)}
	if rule != "" {
		decision = append(decision, otel.String(attrRule, rule))
	}
	decide.SetAttr(decision...)
	decide.End()
	server.SetAttr(decision...)
	// The span name says the tool (the conventions' target) when it is
	// one the server may have: a name the client made up, hidden or
	// unknown, or absurdly long, stays in gen_ai.tool.name only, so that a
	// client cannot fill the backend with span names of its choosing.
	name := mcp.MethodToolsCall
	if !r.Unknown && len(c.Tool) <= maxTarget {
		name += " " + c.Tool
		server.SetName(name)
	}
	if r.Answer != nil || r.Unknown {
		if r.Answer != nil {
			// The client is answered with isError: true (a denial), or a
			// JSON-RPC error.
			endWith(server, proxy.End{Result: answerResult(r.Answer), Error: answerError(r.Answer)})
		}
		server.End()
		return r
	}
	upstream := server.Child(name, otel.KindClient, attrs...)
	meta := c.Meta
	if r.Meta != nil {
		meta = r.Meta // as the policy's inspect redacted it
	}
	r.Meta = withTraceparent(meta, upstream.Context(), in)
	r.Ticket = &tracedTicket{inner: r.Ticket, server: server, upstream: upstream}
	return r
}

// callAttrs are the attributes the server and client spans share.
func callAttrs(c *proxy.Call) []otel.Attr {
	attrs := make([]otel.Attr, 0, 6)
	attrs = append(attrs, otel.String(attrMethod, mcp.MethodToolsCall), otel.String(attrTool, c.Tool),
		otel.String(attrOperation, "execute_tool"))
	if len(c.ID) > 0 {
		id := string(c.ID)
		if s, ok := jsonrpc.Unquote(c.ID); ok {
			id = s
		}
		attrs = append(attrs, otel.String(attrRequestID, id))
	}
	if s := c.Session; s != nil {
		if s.ID != "" {
			attrs = append(attrs, otel.String(attrSession, s.ID))
		}
		if v := s.Version(); v != "" {
			attrs = append(attrs, otel.String(attrVersion, v))
		}
	}
	return attrs
}

// rulingDecision reads what a ruling decided, for the decision span.
func rulingDecision(r proxy.Ruling) (action, rule string) {
	switch {
	case r.Unknown:
		return "hidden", ""
	case r.Answer != nil:
		result := answerResult(r.Answer)
		d := mcp.ParamsValue(mcp.ParamsValue(result, "_meta"), mcp.DecisionMetaKey)
		if a := mcp.ResultString(d, "action"); a != "" {
			return a, mcp.ResultString(d, "rule")
		}
		return "deny", ""
	}
	if t := ticketOf(r.Ticket); t != nil && t.ev.Decision != "" {
		return string(t.ev.Decision), t.ev.Rule
	}
	return "allow", ""
}

func answerResult(answer []byte) []byte {
	m, err := jsonrpc.Parse(answer, false)
	if err != nil {
		return nil
	}
	return m.Result
}

func answerError(answer []byte) []byte {
	m, err := jsonrpc.Parse(answer, false)
	if err != nil {
		return nil
	}
	return m.Error
}

// endWith sets a span's error attributes and status from how the call
// ended, as the conventions ask: error.type is the JSON-RPC error code, or
// tool_error for a result with isError: true.
func endWith(s *otel.Span, e proxy.End) {
	var kind, msg string
	switch {
	case e.Error != nil:
		var code []byte
		_ = jsonrpc.Members(e.Error, func(k string, v []byte) error {
			switch k {
			case "code":
				code = v
			case "message":
				msg, _ = jsonrpc.Unquote(v)
			}
			return nil
		})
		kind = string(code)
		if kind == "" {
			kind = "_OTHER"
		}
		s.SetAttr(otel.String(attrRPCStatus, kind))
	case e.Result != nil && mcp.IsErrorResult(e.Result):
		kind = "tool_error"
	case e.Unsent:
		kind, msg = "not_sent", "the call could not be sent to the server"
	case e.Result == nil:
		kind, msg = "no_response", "no answer came"
	}
	if e.Cancelled && kind == "" {
		kind = "cancelled"
	}
	if kind == "" {
		return
	}
	s.SetAttr(otel.String(attrErrorType, kind))
	s.SetStatus(otel.StatusError, msg)
}

// tracedTicket ends a forwarded call's spans when it ends.
type tracedTicket struct {
	inner            proxy.Ticket
	server, upstream *otel.Span
}

// FilterResult implements proxy.ResultFilter for the ticket it wraps.
func (t *tracedTicket) FilterResult(id, frame, result []byte) []byte {
	if f, ok := t.inner.(proxy.ResultFilter); ok {
		return f.FilterResult(id, frame, result)
	}
	return frame
}

func (t *tracedTicket) Done(e proxy.End) {
	endWith(t.upstream, e)
	t.upstream.End()
	if t.inner != nil {
		t.inner.Done(e)
	}
	endWith(t.server, e)
	t.server.End()
}

// traceReserve starts the store's span under the call's decision span; the
// returned function ends it. With tracing off it is a no-op.
func (g *Gate) traceReserve(ctx context.Context, counters int) func(admitted bool, err error) {
	if g.Tracer == nil {
		return noTrace
	}
	decide, _ := ctx.Value(traceKey{}).(*otel.Span)
	if decide == nil {
		return noTrace
	}
	s := decide.Child(spanReserve, otel.KindInternal, otel.Int(attrCounters, int64(counters)))
	return func(admitted bool, err error) {
		if err != nil {
			s.SetAttr(otel.String(attrErrorType, "store_error"))
			s.SetStatus(otel.StatusError, err.Error())
		} else {
			s.SetAttr(otel.Bool(attrAdmitted, admitted))
		}
		s.End()
	}
}

func noTrace(bool, error) {}

// metaTrace is what a call's _meta says of its trace.
type metaTrace struct {
	parent otel.SpanContext // zero when absent or unreadable
	// ambiguous: _meta has a key that differs from traceparent or
	// tracestate only by case; Tollgate then adds nothing beside it.
	ambiguous bool
	// notObject: _meta is present but not an object.
	notObject bool
}

// maxTarget is the longest tool name put in a span's name.
const maxTarget = 128

// maxState is the longest tracestate recorded on spans (the W3C
// recommendation's 512); a longer one is still forwarded untouched.
const maxState = 512

// readMeta reads the client's trace context from params._meta.
func readMeta(meta []byte) metaTrace {
	var in metaTrace
	if meta == nil {
		return in
	}
	if meta[0] != '{' {
		in.notObject = true
		return in
	}
	var state string
	_ = jsonrpc.Members(meta, func(k string, v []byte) error {
		switch {
		case k == metaTraceparent:
			if s, ok := jsonrpc.Unquote(v); ok {
				if sc, err := otel.ParseTraceparent(s); err == nil {
					in.parent = sc
				}
			}
		case k == metaTracestate:
			state, _ = jsonrpc.Unquote(v)
		case strings.EqualFold(k, metaTraceparent) || strings.EqualFold(k, metaTracestate):
			in.ambiguous = true
		}
		return nil
	})
	if in.parent.IsValid() && len(state) <= maxState && otel.ValidTracestate(state) {
		in.parent.State = state
	}
	return in
}

// withTraceparent returns the _meta to forward: meta with its traceparent
// set to sc (added when absent), and its tracestate removed when it came
// without a readable traceparent (W3C: a new trace does not carry the
// state of one it could not read). Every other byte stays. nil means
// forward the call's _meta unchanged: _meta is not an object, or holds a
// case variant of a trace key beside which another key would make the
// call ambiguous to a strict server.
func withTraceparent(meta []byte, sc otel.SpanContext, in metaTrace) []byte {
	value := jsonrpc.AppendString(nil, sc.Traceparent())
	if meta == nil {
		out := append([]byte(`{"traceparent":`), value...)
		return append(out, '}')
	}
	if in.notObject || in.ambiguous {
		return nil
	}
	var edits []metaEdit
	found := false
	_ = jsonrpc.Members(meta, func(k string, v []byte) error {
		at := jsonrpc.Offset(meta, v)
		switch k {
		case metaTraceparent:
			found = true
			edits = append(edits, metaEdit{at, at + len(v), value})
		case metaTracestate:
			if !in.parent.IsValid() {
				from, to := memberSpan(meta, at, at+len(v))
				edits = append(edits, metaEdit{from, to, nil})
			}
		}
		return nil
	})
	if !found {
		add := append([]byte(`"traceparent":`), value...)
		end := len(bytes.TrimRight(meta, " \t\r\n")) - 1 // the closing brace
		if len(bytes.TrimSpace(meta[1:end])) > 0 && !onlyTracestate(edits, meta[:end+1]) {
			add = append(add, ',')
		}
		edits = append(edits, metaEdit{1, 1, add})
	}
	out := make([]byte, 0, len(meta)+len(value)+16)
	last := 0
	for len(edits) > 0 {
		i := 0
		for j := range edits {
			// At one offset, an insertion (from == to) goes first.
			if edits[j].from < edits[i].from || edits[j].from == edits[i].from && edits[j].to < edits[i].to {
				i = j
			}
		}
		e := edits[i]
		edits = append(edits[:i], edits[i+1:]...)
		out = append(out, meta[last:e.from]...)
		out = append(out, e.with...)
		last = e.to
	}
	return append(out, meta[last:]...)
}

// metaEdit replaces meta[from:to] with with.
type metaEdit struct {
	from, to int
	with     []byte
}

// onlyTracestate reports whether the edits remove the object's only
// member (a tracestate), leaving it empty.
func onlyTracestate(edits []metaEdit, meta []byte) bool {
	for _, e := range edits {
		if e.with == nil && len(bytes.TrimSpace(meta[1:e.from])) == 0 && len(bytes.TrimSpace(meta[e.to:len(meta)-1])) == 0 {
			return true
		}
	}
	return false
}

// memberSpan returns the bytes of the member whose value is
// obj[vFrom:vTo], with one comma beside it, so that removing them leaves
// a well-formed object. obj is a strictly valid object (ParseCall read it).
func memberSpan(obj []byte, vFrom, vTo int) (from, to int) {
	// Back over ':' and the key string to its opening quote.
	i := vFrom - 1
	for isWS(obj[i]) || obj[i] == ':' {
		i--
	}
	// obj[i] is the key's closing quote; find the opening one (a quote
	// not escaped by an odd run of backslashes).
	for i--; ; i-- {
		if obj[i] == '"' {
			n := 0
			for obj[i-1-n] == '\\' {
				n++
			}
			if n%2 == 0 {
				break
			}
		}
	}
	from, to = i, vTo
	j := to
	for j < len(obj) && isWS(obj[j]) {
		j++
	}
	if obj[j] == ',' {
		return from, j + 1
	}
	k := from - 1
	for isWS(obj[k]) {
		k--
	}
	if obj[k] == ',' {
		return k, to
	}
	return from, to
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
