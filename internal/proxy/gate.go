package proxy

import (
	"context"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// Call is a tools/call as the gate sees it. Its slices alias the frame being
// read: a gate must copy anything it keeps after Judge returns.
type Call struct {
	Session *transport.Session
	ID      []byte // raw request id
	Tool    string
	Args    []byte // raw arguments object
	// Retry reports a multi round-trip retry (2026-07-28): the call carries
	// inputResponses or requestState, RequestState ("" when absent), and
	// InputResponses, the raw inputResponses object (nil when absent).
	Retry          bool
	RequestState   string
	InputResponses []byte
	// Task reports a task-augmented call (2025-11-25's params.task).
	Task bool
	// Meta is the raw params._meta value, nil when absent.
	Meta []byte
}

// Ruling is the gate's answer to a call.
type Ruling struct {
	// Answer, when not nil, is the complete JSON-RPC response to send the
	// client instead of forwarding the call.
	Answer []byte
	// Ticket, when not nil, is told how the forwarded call ended.
	Ticket Ticket
	// Args, when not nil, are the arguments to forward in place of the
	// call's own (the gate redacted something in them).
	Args []byte
	// Unknown says the call must be answered exactly as the server answers
	// a tool it does not have (the tool is hidden, or not shown at all).
	// The pump asks the server about a name that cannot exist, in the
	// call's place and under its id, and passes the answer on with the
	// name put back: the same answer and the same round trip as a tool the
	// server lacks.
	Unknown bool
	// Meta, when not nil, is the params._meta object to forward in place
	// of the call's own, or added when the call had none (tracing set its
	// traceparent).
	Meta []byte
	// Fresh says to forward the call without its inputResponses and
	// requestState: the round they answer was the gate's own (an inline
	// approval asked through input_required), not the server's.
	Fresh bool
}

// edit returns a copy of frame, whose params are params and whose
// tools/call is c, with the ruling's Args and Meta in place of the call's
// own; ok is false when a part to replace is not in frame.
func (r *Ruling) edit(frame, params []byte, c mcp.Call) (out []byte, ok bool) {
	type cut struct {
		at, n int
		with  []byte
	}
	var cuts [2]cut
	k := 0
	if r.Args != nil {
		at, ok := within(frame, c.Args)
		if !ok {
			return nil, false
		}
		cuts[k], k = cut{at, len(c.Args), r.Args}, k+1
	}
	if r.Meta != nil {
		if c.Meta != nil {
			at, ok := within(frame, c.Meta)
			if !ok {
				return nil, false
			}
			cuts[k] = cut{at, len(c.Meta), r.Meta}
		} else {
			// params holds at least the name: the new member goes first.
			at, ok := within(frame, params)
			if !ok || params[0] != '{' {
				return nil, false
			}
			with := append(append([]byte(`"_meta":`), r.Meta...), ',')
			cuts[k] = cut{at + 1, 0, with}
		}
		k++
	}
	if k == 2 && cuts[1].at < cuts[0].at {
		cuts[0], cuts[1] = cuts[1], cuts[0]
	}
	out = make([]byte, 0, len(frame)+len(r.Args)+len(r.Meta)+16)
	last := 0
	for _, c := range cuts[:k] {
		out = append(out, frame[last:c.at]...)
		out = append(out, c.with...)
		last = c.at + c.n
	}
	return append(out, frame[last:]...), true
}

// dropRetry returns a copy of frame, a tools/call request, whose params
// lack inputResponses and requestState; ok is false when frame cannot be
// read.
func dropRetry(frame []byte) (out []byte, ok bool) {
	m, err := jsonrpc.Parse(frame, false)
	if err != nil || len(m.Params) == 0 || m.Params[0] != '{' {
		return nil, false
	}
	params := []byte{'{'}
	err = jsonrpc.Members(m.Params, func(k string, v []byte) error {
		if k == "inputResponses" || k == "requestState" {
			return nil
		}
		if len(params) > 1 {
			params = append(params, ',')
		}
		params = jsonrpc.AppendString(params, k)
		params = append(params, ':')
		params = append(params, v...)
		return nil
	})
	if err != nil {
		return nil, false
	}
	return Splice(frame, m.Params, append(params, '}'))
}

// within returns where part, a non-empty subslice of frame, starts in it.
func within(frame, part []byte) (int, bool) {
	start := cap(frame) - cap(part)
	if len(part) == 0 || start < 0 || start+len(part) > len(frame) || &frame[start] != &part[0] {
		return 0, false
	}
	return start, true
}

// Ticket follows one forwarded call.
type Ticket interface {
	// Done is called exactly once, with how the call ended.
	Done(e End)
}

// ResultFilter is implemented by a Ticket that may change the server's
// answer before the client sees it (redact what the policy's inspect
// finds, or refuse an answer over its size cap). frame is the server's
// response, id its id and result its result, or its error object when the
// server answered with an error (inspected as a result is); the returned
// frame is what the client gets (frame itself when nothing changed). It is
// called before Done, from the pump's server loop.
type ResultFilter interface {
	FilterResult(id, frame, result []byte) []byte
}

// End is how a forwarded call ended, as the pump saw it. Only Unsent proves
// the server did not run the call: an error, a cancellation or a missing
// answer all leave open that it ran.
type End struct {
	// Result and Error are the server's raw result or error; both are nil
	// when no response came (the session ended, or the call was abandoned).
	Result, Error []byte
	// Unsent reports that the request never left Tollgate: writing it to
	// the server failed, so the server cannot have run it.
	Unsent bool
	// Cancelled reports that the client cancelled the call
	// (notifications/cancelled) after it was forwarded. Whatever the server
	// then answers, the call may have run.
	Cancelled bool
	// InputRequired reports a multi round-trip interim result
	// (resultType "input_required"): the call is not over, the client is
	// to retry it with the input asked for, echoing RequestState (owned;
	// "" when the server sent none).
	InputRequired bool
	RequestState  string
	// TaskID is the task the call created (a CreateTaskResult), "" when
	// none.
	TaskID string
}

// TaskGate is implemented by a Gate that governs tasks (the tasks
// extension of 2026-07-28, and 2025-11-25's tasks): a task is visible to
// the session whose call created it, while the policy still lets that
// session use the tool that created it. The pump refuses tasks/get,
// tasks/result, tasks/cancel and tasks/update of a task that is not
// visible, as the server answers a task it does not know, drops its
// status notifications, and removes it from tasks/list.
type TaskGate interface {
	TaskVisible(s *transport.Session, taskID string) bool
}

// NotificationFilter is implemented by a Gate that inspects what a server
// tells the client outside any answer: its log messages
// (notifications/message, whose level the client sets) and progress
// messages.
type NotificationFilter interface {
	// FilterNotification inspects params, the params of the server's
	// notification method, which alias frame. It returns the frame to
	// pass on: frame itself when nothing changed, a copy with what was
	// redacted or fenced; nil to drop the notification (denied, or
	// unreadable).
	FilterNotification(s *transport.Session, method string, frame, params []byte) []byte
}

// InstructionsFilter is implemented by a Gate that inspects what a server
// says in its initialize answer's instructions, which clients hand the
// model as guidance before any call.
type InstructionsFilter interface {
	// FilterInstructions inspects instructions, the server's instructions
	// string in result, the initialize answer's result; both alias frame.
	// It returns the frame to pass on: frame itself when nothing changed,
	// a copy otherwise (what was redacted or fenced changed in place, or
	// instructions the policy denies replaced by a notice that says why).
	FilterInstructions(s *transport.Session, frame, result, instructions []byte) []byte
}

// RequestJudge is implemented by a Gate whose policy may decide client
// requests other than tools/call that send the server data it acts on
// (resources/read, prompts/get, resources/subscribe, completion/complete:
// a policy's requests section).
type RequestJudge interface {
	// JudgeRequest returns the JSON-RPC error answering id when the policy
	// refuses the request (method, with params); when it may go on, the
	// ticket (nil: none) to tell how it ended. It may block on a state
	// store.
	JudgeRequest(ctx context.Context, s *transport.Session, method string, id, params []byte) (refuse []byte, t Ticket)
}

// ReadHolder is implemented by a Gate that may refuse a prompts/get or
// resources/read before the server reads it: pins hold the prompt or
// resource (its definition changed, or is new, and waits for a person).
type ReadHolder interface {
	// HeldRead returns why the request (method, with params) is refused,
	// held false when it may go on.
	HeldRead(s *transport.Session, method string, params []byte) (reason string, held bool)
}

// Wait is what judging a call may wait on.
type Wait uint8

const (
	// WaitNone: judging never waits.
	WaitNone Wait = iota
	// WaitStore: judging may wait on a state store's I/O, for as long as
	// the store's own timeouts allow (a lock another process holds, a
	// round trip to Redis).
	WaitStore
	// WaitPerson: judging may wait for a person (an approval), for as long
	// as the person takes, or for the client's answer to a request
	// Tollgate sends it, which only the read loop can read.
	WaitPerson
)

// Gate judges what the pump relays. Implementations are safe for concurrent
// use.
type Gate interface {
	// Judge rules on a tools/call. It may block on I/O (a state store, a
	// person asked inline) when Waits says so.
	Judge(ctx context.Context, c *Call) Ruling
	// Waits reports what judging a call to tool may wait on. The pump
	// judges a call that may wait for a person off its read loop, one that
	// may wait on a store off it too unless the session's calls come one at
	// a time, and every other call on it.
	Waits(tool string) Wait
	// Lists returns how tools/list results must be edited under the policy
	// in force: hidden reports a tool to remove, listed is told each tool
	// the client receives (tool aliases the frame). Either is nil when not
	// needed; with both nil the result passes untouched, unread.
	Lists() (hidden func(tool string) bool, listed func(name string, tool []byte))
	// Refused records a client message the pump refused or dropped without
	// forwarding it: a malformed or ambiguous message, a request whose id is
	// already in flight, or a tools/call sent as a notification (no id to
	// answer). c is the tools/call the message carried when it could be
	// read, else nil. It must not block for long.
	Refused(s *transport.Session, c *Call, reason string)
	// FilterResult lets the gate inspect the answer to a resources/read or
	// prompts/get request (method) before the client sees it, its result or
	// its error object; see ResultFilter. It returns frame when nothing
	// changes.
	FilterResult(s *transport.Session, method string, id, frame, result []byte) []byte
	// FilterPeer lets the gate inspect a server's sampling or elicitation
	// request (method; answer false: payload is its params) or the client's
	// answer to one (answer true: payload is its result). It returns the
	// frame to pass on (nil: unchanged), or refuse, the response to send the
	// server instead (nil unless refused).
	FilterPeer(s *transport.Session, method string, answer bool, id, frame, payload []byte) (out, refuse []byte)
	// ListChanged returns a channel that is closed when what tools/list
	// shows changes under the gate (a reload that hides other tools); call
	// it again for the next change.
	ListChanged() <-chan struct{}
}

// ListHolder is implemented by a Gate that holds listed tools back by what
// their definitions say (pinned definitions, package pins), which a name
// alone cannot tell. HoldTools is given each tools/list result before it is
// edited, with the list read from it (positions into result), and returns
// the tools to remove with the policy's hidden ones (nil: none). It is
// called on the server's read loop and may block on a state store for a
// bounded time. HoldsTools reports whether it would look at lists now
// (pins are not off): when it would not, and the policy edits no list, a
// list passes unread.
type ListHolder interface {
	HoldsTools() bool
	HoldTools(s *transport.Session, result []byte, list *mcp.ToolList) (held func(name string) bool)
}

// either removes what a or b removes; nil when both are.
func either(a, b func(string) bool) func(string) bool {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(name string) bool { return a(name) || b(name) }
}
