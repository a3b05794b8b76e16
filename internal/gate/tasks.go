package gate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/proxy"
	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// Tasks (the tasks extension of 2026-07-28, and 2025-11-25's core tasks):
// a tools/call may answer with a task, which later requests read and act
// on by its id alone (tasks/get, tasks/result, tasks/update, tasks/cancel,
// and 2025-11-25's tasks/list). A task is governed by the call that
// created it: it is visible only to the session (and identity) whose call
// created it, and only while the policy in force still lets that session
// use the tool with those arguments. A task id Tollgate did not see
// created is not visible: an agent cannot read another session's task by
// guessing or learning its id, nor the task of a tool hidden or denied to
// it now.
//
// The tasks of stateless (2026-07-28) sessions are recorded in Gate.Calls
// when it is set, so that a tasks/get sent to another instance on the same
// state backend finds its task; all others in this process. A record that
// cannot be written is logged (the task is then not visible); one that
// cannot be read is not visible.

// DefaultTaskTTL bounds how long a task stays visible after it was
// created when Gate.TaskTTL is zero.
const DefaultTaskTTL = 24 * time.Hour

// maxTasks bounds the tasks remembered; past it the oldest are forgotten
// (and no longer visible).
const maxTasks = 1 << 16

var _ proxy.TaskGate = (*Gate)(nil)

// tasks remembers which call created each task.
type tasks struct {
	mu    sync.Mutex
	m     map[string]taskRecord
	order []string // ids oldest first, for the bound
}

type taskRecord struct {
	session, identity, tool string
	args                    []byte // owned
	expires                 time.Time
}

func (g *Gate) taskTTL() time.Duration {
	if g.TaskTTL > 0 {
		return g.TaskTTL
	}
	return DefaultTaskTTL
}

// created notes that a forwarded call created task id. A task id already
// known to belong to another session stays with the first: a server that
// reuses ids must not hand one session's task to another.
func (ts *tasks) created(id string, rec taskRecord) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.m == nil {
		ts.m = make(map[string]taskRecord)
	}
	if old, ok := ts.m[id]; ok {
		if old.session != rec.session || old.identity != rec.identity {
			return
		}
	} else {
		ts.order = append(ts.order, id)
	}
	ts.m[id] = rec
	for len(ts.m) > maxTasks && len(ts.order) > 0 {
		delete(ts.m, ts.order[0])
		ts.order = ts.order[1:]
	}
}

func (ts *tasks) get(id string) (taskRecord, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	r, ok := ts.m[id]
	return r, ok
}

// mayCreateTask reports whether a call's result may be a task: a
// task-augmented call (2025-11-25), or a call whose client declared the
// tasks extension, in the call's own per-request capabilities or the
// session's (a server must not return a task to one that did not). Only
// such a call's arguments must outlive its frame.
func mayCreateTask(c *proxy.Call) bool {
	if c.Task {
		return true
	}
	if c.Session == nil || !mcp.Stateless(c.Session.Version()) {
		return false
	}
	return bytes.Contains(mcp.ParamsValue(c.Meta, mcp.MetaClientCapabilities), tasksExtension) ||
		bytes.Contains(c.Session.ClientCapabilities(), tasksExtension)
}

var tasksExtension = []byte(`"io.modelcontextprotocol/tasks"`)

// taskCreated is told by a ticket that its call created a task.
//
// A call that could not create a task (no task parameter, and no tasks
// capability declared) may not have kept its arguments, which the task's
// visibility is judged on: a task a server returns to it anyway, against
// the protocol, is not recorded, so not visible.
func (t *ticket) taskCreated(id string) {
	if !t.mayTask {
		t.g.log().Warn("the server answered a call with a task the client did not ask for; the task is not visible", "tool", t.ev.Tool, "task", id)
		return
	}
	now := t.g.now()
	rec := taskRecord{session: t.ev.Session, identity: t.ev.Identity, tool: t.ev.Tool,
		args: append([]byte(nil), t.ev.Args...), expires: now.Add(t.g.taskTTL())}
	if t.g.Calls != nil && t.round != nil { // a stateless session's (bindRound)
		t.g.storeTask(id, rec, now)
		return
	}
	t.g.tasks.created(id, rec)
}

// storedTask is a task record in Gate.Calls; its expiry is the store's.
type storedTask struct {
	Session  string `json:"s"`
	Identity string `json:"i"`
	Tool     string `json:"t"`
	Args     []byte `json:"a,omitempty"`
}

// taskKey is a task's key in Gate.Calls: a server's task id may be any
// text, of any length.
func taskKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "task:" + hex.EncodeToString(sum[:])
}

// storeTask records in g.Calls that a call created task id, under the
// rule tasks.created keeps: the first session to create an id keeps it;
// the same session's (and identity's) later record replaces its own.
func (g *Gate) storeTask(id string, rec taskRecord, now time.Time) {
	val, err := json.Marshal(storedTask{Session: rec.session, Identity: rec.identity, Tool: rec.tool, Args: rec.args})
	if err != nil {
		g.log().Warn("call store: cannot encode a task record; the task will not be visible", "tool", rec.tool, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	key, ttl := taskKey(id), g.taskTTL()
	stored, err := g.Calls.Add(ctx, key, val, ttl, now)
	if err == nil && !stored {
		var old []byte
		var ok bool
		old, ok, err = g.Calls.Get(ctx, key, now)
		switch {
		case err != nil:
		case !ok:
			// Expired since: the id is free again.
			_, err = g.Calls.Add(ctx, key, val, ttl, now)
		default:
			if prev, derr := decodeTask(old); derr == nil && prev.session == rec.session && prev.identity == rec.identity {
				err = g.Calls.Put(ctx, key, val, ttl, now)
			}
		}
	}
	if err != nil {
		g.log().Warn("call store: a task could not be recorded; it will not be visible", "tool", rec.tool, "session", rec.session, "err", err)
	}
}

func decodeTask(val []byte) (taskRecord, error) {
	var st storedTask
	if err := json.Unmarshal(val, &st); err != nil {
		return taskRecord{}, err
	}
	return taskRecord{session: st.Session, identity: st.Identity, tool: st.Tool, args: st.Args}, nil
}

// task returns the live record of task id as session s may find it: from
// g.Calls for a stateless session when it is set, else from this
// process's records.
func (g *Gate) task(s *transport.Session, id string, now time.Time) (taskRecord, bool) {
	if g.Calls == nil || !mcp.Stateless(s.Version()) {
		rec, ok := g.tasks.get(id)
		return rec, ok && rec.expires.After(now)
	}
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	val, ok, err := g.Calls.Get(ctx, taskKey(id), now)
	if err != nil {
		g.log().Warn("call store: cannot read a task record; the task is not visible", "session", s.ID, "err", err)
		return taskRecord{}, false
	}
	if !ok {
		return taskRecord{}, false
	}
	rec, err := decodeTask(val)
	if err != nil {
		g.log().Warn("call store: a task record cannot be read; the task is not visible", "session", s.ID, "err", err)
		return taskRecord{}, false
	}
	return rec, true
}

// TaskVisible implements proxy.TaskGate. For a stateless session it may
// read Gate.Calls (bounded by storeTimeout).
func (g *Gate) TaskVisible(s *transport.Session, id string) bool {
	if s == nil || id == "" {
		return false
	}
	now := g.now()
	rec, ok := g.task(s, id, now)
	if !ok || rec.session != s.ID || rec.identity != s.Identity {
		return false
	}
	p := g.policy.Load()
	if g.monitoring(p) {
		return true
	}
	if p.Hidden(rec.tool) || g.unseen(p, rec.tool) {
		return false
	}
	args := rec.args
	if len(args) == 0 {
		args = []byte("{}")
	}
	// What the policy denies the session now (a rule, a condition on the
	// arguments), it may not read either. Approval rules and limits were
	// met when the task was created; reading it is not a new call.
	d := p.Decide(&policy.Call{Tool: rec.tool, Args: args, Session: s.ID, Identity: s.Identity, Now: now, Listed: g.listed(rec.tool)})
	return d.Action != policy.Deny || d.Monitor
}

var _ proxy.TaskResultFilter = (*Gate)(nil)

// FilterTaskResult implements proxy.TaskResultFilter: the inspect entry of
// the tool whose call created the task (its own, else "*") applies to the
// result the task delivers, under the policy in force, as it applies to a
// call answered at once: what it redacts is redacted in place, and what it
// denies (or a result over max_result_bytes, or one it cannot read) is
// replaced by a denial result (a failed task's error, by an error with the
// reason). A task whose record is gone (it expired
// between the request and the answer) is inspected under "*". Findings
// are audited as the tool's, with rule inspect.
func (g *Gate) FilterTaskResult(s *transport.Session, taskID string, frame, result []byte, isErr bool) []byte {
	p := g.policy.Load()
	now := g.now()
	var tool string
	if s != nil {
		if rec, ok := g.task(s, taskID, now); ok {
			tool = rec.tool
		}
	}
	in := p.Inspection(tool)
	if in == nil {
		return frame
	}
	what := tool
	if what == "" {
		what = "task " + quote(taskID)
	}
	redacted, found, withhold := inspectAnswer(in, result, what)
	if len(found) > 0 {
		ev := event.Event{Time: now, Tool: tool, Decision: event.Allow, Rule: InspectRule, Findings: found,
			PolicyRev: p.Revision(), Outcome: "ok", Reason: "in the result of task " + quote(taskID)}
		if s != nil {
			ev.Session, ev.Identity = s.ID, s.Identity
		}
		if withhold != "" {
			ev.Decision, ev.Reason = event.Deny, withhold+" (the result of task "+quote(taskID)+")"
		}
		g.record(ev)
	}
	switch {
	case withhold != "" && isErr:
		redacted = append(strconv.AppendInt([]byte(`{"code":`), jsonrpc.CodeInternalError, 10), `,"message":`...)
		redacted = append(jsonrpc.AppendString(redacted, "[POLICY DENIED] "+withhold), '}')
	case withhold != "":
		redacted = denialResult(withhold)
	case redacted == nil:
		return frame
	}
	out, ok := proxy.Splice(frame, result, redacted)
	if !ok {
		return nil
	}
	return out
}
