package proxy

import (
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
)

// This file is the pump's part of the released 2026-07-28 revision:
// multi round-trip results and task creation reported to the call's
// ticket, subscriptions/listen streams, and tasks kept to the session
// whose call created them (see docs/protocol.md).

// ended is how a forwarded call ended with the server's result or error (an
// error jsonrpc.IsLost marks counts as no answer):
// an input_required result says the call is not over, a CreateTaskResult
// which task it created. Only a stateless client's results (multi
// round-trip requests, the tasks extension) and a task-augmented call's
// (2025-11-25) are read for them: reading costs a pass over the result,
// and a server of any other revision sends neither.
func (p *pump) ended(pd *pending, result, rpcErr []byte) End {
	if rpcErr != nil && jsonrpc.IsLost(rpcErr) {
		// Tollgate answered in the server's place (a transport, or a
		// gateway's link, lost the server): no answer came, and the call
		// may have run.
		rpcErr = nil
	}
	e := End{Result: result, Error: rpcErr, Cancelled: pd.cancelled}
	if result == nil || !(pd.task || mcp.Stateless(p.session.Version())) {
		return e
	}
	o := mcp.ReadOutcome(result)
	e.InputRequired = o.ResultType == mcp.ResultInputRequired
	e.RequestState, e.TaskID = o.RequestState, o.TaskID
	return e
}

// listening returns the raw ids of the subscriptions/listen streams open
// on this session that asked for tools/list changes, that the server has
// acknowledged and that the client has not cancelled.
func (p *pump) listening() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out [][]byte
	for id, pd := range p.pending {
		// A cancelled subscription gets nothing more, whether or not the
		// server answers its cancellation.
		if pd.kind == kindListen && pd.acked && !pd.cancelled && pd.listen.ToolsListChanged {
			out = append(out, []byte(id))
		}
	}
	return out
}

// taskProbe checks a tasks/get, tasks/result, tasks/cancel or tasks/update
// request against the gate. A task the session may not see is asked about
// under a name no task has, and the server's answer passed on with the id
// put back (see unprobe): the client gets exactly what the server says of
// a task it does not know. It returns the frame to forward in the
// request's place, nil to forward the request as it is.
func (p *pump) taskProbe(m jsonrpc.Message, frame []byte, pd *pending) []byte {
	tg, ok := p.gate.(TaskGate)
	if !ok {
		return nil
	}
	raw := mcp.ParamsValue(m.Params, "taskId")
	id, isStr := jsonrpc.Unquote(raw)
	// Ambiguous params (a second taskId, or one spelt TaskID) could make
	// the server read another task than the one judged here: such a
	// request is asked about as an unknown task too.
	if raw != nil && isStr && jsonrpc.CheckUnambiguous(m.Params) == nil && tg.TaskVisible(p.session, id) {
		// What the server answers about it is the call's answer, late:
		// inspected as the call's would be (taskresult.go).
		pd.kind, pd.tool, pd.taskResult = kindTask, id, taskResultMethod(m.Method)
		return nil
	}
	p.gate.Refused(p.session, nil, m.Method+" of a task this session may not see (not created by its calls, or the tool that created it is hidden or denied now); answered as the server answers an unknown task")
	if len(m.Params) == 0 {
		return nil // no params: there is no task to read
	}
	// The whole params are replaced, not the one taskId read here: with
	// ambiguous params the server may read another.
	probe := probeName()
	params := []byte(`{"taskId":`)
	params = jsonrpc.AppendString(params, probe)
	if meta := mcp.ParamsValue(m.Params, "_meta"); meta != nil {
		params = append(params, `,"_meta":`...)
		params = append(params, meta...)
	}
	params = append(params, '}')
	out, ok := Splice(frame, m.Params, params)
	if !ok {
		return nil
	}
	pd.kind, pd.probe, pd.tool = kindProbe, probe, id
	return out
}

// filterTasks removes from a tasks/list answer the tasks the session may
// not see. An answer it cannot read is withheld.
func (p *pump) filterTasks(frame, id, result []byte) []byte {
	tg, ok := p.gate.(TaskGate)
	if !ok {
		return frame
	}
	out, err := mcp.FilterArray(frame, result, "tasks", func(task []byte) bool {
		return tg.TaskVisible(p.session, mcp.ResultString(task, "taskId"))
	})
	if err != nil {
		p.log.Warn("withheld an unreadable tasks/list result from the server", "err", err)
		return jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError,
			"the server's tasks/list result could not be read, so it was withheld: "+err.Error(), nil)
	}
	return out
}

// serverNotification passes on a server's notification: a task's status
// only to the session that may see the task; an acknowledged subscription
// opens its stream to Tollgate's own notifications.
func (p *pump) serverNotification(m jsonrpc.Message, frame []byte) []byte {
	switch m.Method {
	case mcp.NotificationTasks, mcp.NotificationTasksStatus:
		tg, ok := p.gate.(TaskGate)
		if !ok {
			return frame
		}
		id, _ := jsonrpc.Unquote(mcp.ParamsValue(m.Params, "taskId"))
		if !tg.TaskVisible(p.session, id) {
			p.log.Debug("dropped the status of a task this session may not see", "method", m.Method)
			return nil
		}
		return p.filterTaskNotification(id, frame, m.Params)
	case mcp.NotificationMessage, mcp.NotificationProgress:
		if f, ok := p.gate.(NotificationFilter); ok && m.Params != nil {
			return f.FilterNotification(p.session, m.Method, frame, m.Params)
		}
	case mcp.NotificationSubscribed:
		if sub := mcp.MetaValue(m.Params, mcp.MetaSubscriptionID); sub != nil {
			p.mu.Lock()
			if pd := p.find(sub); pd != nil && pd.kind == kindListen {
				pd.acked = true
			}
			p.mu.Unlock()
		}
	}
	return frame
}

// listenTasks keeps a subscriptions/listen request from asking for the
// status of tasks the session may not see (the tasks extension's
// notifications.taskIds): those ids are removed before the server reads
// the request, so that its acknowledgement cannot tell whether they
// exist. It returns the frame to forward (nil: unchanged), or refuse, the
// answer to a request whose params are ambiguous.
func (p *pump) listenTasks(m jsonrpc.Message, frame []byte) (out, refuse []byte) {
	tg, ok := p.gate.(TaskGate)
	if !ok {
		return nil, nil
	}
	if err := jsonrpc.CheckUnambiguous(m.Params); err != nil {
		p.gate.Refused(p.session, nil, "rejected a subscriptions/listen with ambiguous params: "+err.Error())
		return nil, jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidParams, "invalid params: "+err.Error(), nil)
	}
	n := mcp.ParamsValue(m.Params, "notifications")
	out, err := mcp.FilterArray(frame, n, "taskIds", func(e []byte) bool {
		id, _ := jsonrpc.Unquote(e)
		return tg.TaskVisible(p.session, id)
	})
	if err != nil || &out[0] == &frame[0] {
		return nil, nil
	}
	return out, nil
}
