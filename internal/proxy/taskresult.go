package proxy

import (
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// A call that becomes a task answers later: its result reaches the client
// in a tasks/result answer (2025-11-25), in the result member of a
// completed task's state (the tasks extension's tasks/get and
// notifications/tasks), and the server's requests for input inside an
// input_required task's state (inputRequests, answered with tasks/update).
// Without these filters an agent could take any tool's answer past the
// policy's inspect by asking for it as a task, which a client does by
// declaring the tasks capability or task-augmenting its call.

// TaskResultFilter is implemented by a TaskGate that inspects what a task
// delivers as the answer to the call that created it.
type TaskResultFilter interface {
	// FilterTaskResult inspects result, the final result of task taskID
	// (the result of the call that created it), or with isErr its error
	// (a failed task's), under the inspection of the tool whose call
	// created the task, as the answer to that call is inspected when it
	// comes at once. result aliases frame. It returns the frame to pass
	// on: frame itself when nothing changed, a copy with result redacted,
	// or with result replaced by a denial when the policy withholds it (a
	// denial result: isError, the reason, the decision in _meta; for an
	// error, an error with the reason); nil when it could do neither.
	FilterTaskResult(s *transport.Session, taskID string, frame, result []byte, isErr bool) []byte
}

// taskState finds in a task's state (a tasks/get result, or the params of
// a task status notification) its result, error and inputRequests
// members. dup is true when one is given more than once: peers disagree on
// which one counts, so such a state is withheld.
func taskState(obj []byte) (result, errObj, requests []byte, dup bool) {
	if len(obj) == 0 || obj[0] != '{' {
		return nil, nil, nil, false
	}
	var nr, ne, nq int
	_ = jsonrpc.Members(obj, func(k string, v []byte) error {
		switch k {
		case "result":
			result = v
			nr++
		case "error":
			errObj = v
			ne++
		case "inputRequests":
			requests = v
			nq++
		}
		return nil
	})
	return result, errObj, requests, nr > 1 || ne > 1 || nq > 1
}

// filterTaskOutcome passes a task state's result and error (members of
// the state in frame) through f; nil when f could do neither.
func (p *pump) filterTaskOutcome(f TaskResultFilter, taskID string, frame, result, errObj []byte) []byte {
	if result != nil {
		if frame = f.FilterTaskResult(p.session, taskID, frame, result, false); frame == nil {
			return nil
		}
		if errObj != nil {
			// The frame is a new one: find the error in it again.
			m, err := jsonrpc.Parse(frame, false)
			if err != nil {
				return nil
			}
			obj := m.Result
			if obj == nil {
				obj = m.Params
			}
			_, errObj, _, _ = taskState(obj)
		}
	}
	if errObj != nil {
		return f.FilterTaskResult(p.session, taskID, frame, errObj, true)
	}
	return frame
}

// filterTaskAnswer passes a server's answer about a task the session may
// see through the gate: for tasks/result (whole) the result is the
// task's final result; for the other methods the result is the task's
// state, whose result and inputRequests members are inspected. It returns
// the frame to send the client.
func (p *pump) filterTaskAnswer(taskID string, whole bool, id, frame, result []byte) []byte {
	f, _ := p.gate.(TaskResultFilter)
	if whole {
		if f == nil {
			return frame
		}
		return orWithheld(f.FilterTaskResult(p.session, taskID, frame, result, false), id)
	}
	res, errObj, reqs, dup := taskState(result)
	if dup {
		p.log.Warn("withheld a task state from the server that gives its result or input requests twice", "task", taskID)
		return withheld(id, "the server's answer gives the task's result or input requests twice")
	}
	if (res != nil || errObj != nil) && f != nil {
		if frame = p.filterTaskOutcome(f, taskID, frame, res, errObj); frame == nil {
			return withheld(id, "the task's result could not be inspected")
		}
	}
	if reqs != nil {
		out, refuse := p.filterEmbeddedRequests(id, frame, func(m jsonrpc.Message) []byte { return m.Result })
		if refuse != nil {
			return refuse
		}
		return out
	}
	return frame
}

// filterTaskNotification passes a task status notification (params, in
// frame) of a task the session may see through the gate: the result of a
// completed task is inspected, and so are the requests of one waiting for
// input. It returns nil to drop the notification: its state could not be
// read unambiguously, or an embedded request was refused (the client then
// learns of it by polling, whose answer carries the refusal).
func (p *pump) filterTaskNotification(taskID string, frame, params []byte) []byte {
	f, _ := p.gate.(TaskResultFilter)
	res, errObj, reqs, dup := taskState(params)
	if dup {
		p.log.Warn("dropped a task status notification that gives the task's result or input requests twice", "task", taskID)
		return nil
	}
	if (res != nil || errObj != nil) && f != nil {
		if frame = p.filterTaskOutcome(f, taskID, frame, res, errObj); frame == nil {
			return nil
		}
	}
	if reqs != nil {
		out, refuse := p.filterEmbeddedRequests([]byte("null"), frame, func(m jsonrpc.Message) []byte { return m.Params })
		if refuse != nil {
			return nil
		}
		return out
	}
	return frame
}

// orWithheld is out, or when the gate could produce nothing, an error
// that tells the client its answer was withheld.
func orWithheld(out, id []byte) []byte {
	if out != nil {
		return out
	}
	return withheld(id, "the task's result could not be inspected")
}

func withheld(id []byte, why string) []byte {
	return jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError, why+", so it was withheld", nil)
}

// taskResultMethod reports whether a visible task's answer to method is
// the task's result itself (2025-11-25's tasks/result) rather than its
// state.
func taskResultMethod(method string) bool { return method == mcp.MethodTasksResult }
