package gate

import (
	"bytes"
	"sync"
	"time"

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
// task-augmented call (2025-11-25), or a call from a client that declared
// the tasks extension (a server must not return a task to one that did
// not). Only such a call's arguments must outlive its frame.
func mayCreateTask(c *proxy.Call) bool {
	if c.Task {
		return true
	}
	return c.Session != nil && mcp.Stateless(c.Session.Version()) &&
		bytes.Contains(c.Session.ClientCapabilities(), tasksExtension)
}

var tasksExtension = []byte(`"io.modelcontextprotocol/tasks"`)

// taskCreated is told by a ticket that its call created a task.
func (t *ticket) taskCreated(id string) {
	now := t.g.now()
	t.g.tasks.created(id, taskRecord{session: t.ev.Session, identity: t.ev.Identity, tool: t.ev.Tool,
		args: append([]byte(nil), t.ev.Args...), expires: now.Add(t.g.taskTTL())})
}

// TaskVisible implements proxy.TaskGate.
func (g *Gate) TaskVisible(s *transport.Session, id string) bool {
	if s == nil || id == "" {
		return false
	}
	rec, ok := g.tasks.get(id)
	now := g.now()
	if !ok || rec.session != s.ID || rec.identity != s.Identity || !rec.expires.After(now) {
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
	d := p.Decide(&policy.Call{Tool: rec.tool, Args: args, Session: s.ID, Identity: s.Identity, Now: now})
	return d.Action != policy.Deny || d.Monitor
}
