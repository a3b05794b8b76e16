package mcp

import (
	"bytes"
	"fmt"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// What the released 2026-07-28 revision added over its draft (see
// docs/protocol.md): subscriptions/listen, multi round-trip requests,
// resultType, list caching fields, and the tasks extension.
const (
	MethodSubscriptionsListen = "subscriptions/listen"
	NotificationSubscribed    = "notifications/subscriptions/acknowledged"

	// The tasks extension (io.modelcontextprotocol/tasks) and the
	// 2025-11-25 core tasks it replaced (tasks/result, tasks/list).
	MethodTasksGet    = "tasks/get"
	MethodTasksResult = "tasks/result"
	MethodTasksCancel = "tasks/cancel"
	MethodTasksUpdate = "tasks/update"
	MethodTasksList   = "tasks/list"
	// NotificationTasks is the extension's status notification;
	// NotificationTasksStatus is 2025-11-25's.
	NotificationTasks       = "notifications/tasks"
	NotificationTasksStatus = "notifications/tasks/status"
)

// MetaSubscriptionID is the _meta key that tags every message of a
// subscriptions/listen stream with the id of the request that opened it.
const MetaSubscriptionID = "io.modelcontextprotocol/subscriptionId"

// Values of a result's resultType.
const (
	ResultComplete      = "complete"
	ResultInputRequired = "input_required"
	ResultTask          = "task" // the tasks extension's CreateTaskResult
)

// Values of a cacheable result's cacheScope.
const (
	CachePublic  = "public"
	CachePrivate = "private"
)

// Stateless reports whether a negotiated revision is the stateless era
// (2026-07-28 and later): results carry resultType, the server speaks to
// the client only through results and subscriptions/listen, and the legacy
// error codes are not emitted.
func Stateless(version string) bool {
	return len(version) == len(Version20260728) && version[0] >= '0' && version[0] <= '9' && version >= Version20260728
}

// IsTaskMethod reports whether method reads or acts on a task by its
// params.taskId.
func IsTaskMethod(method string) bool {
	switch method {
	case MethodTasksGet, MethodTasksResult, MethodTasksCancel, MethodTasksUpdate:
		return true
	}
	return false
}

// ResultType returns a result's resultType, "" when absent (a server of
// an earlier revision: the client treats it as "complete").
func ResultType(result []byte) string { return ResultString(result, "resultType") }

// TaskID returns the id of the task a tools/call result created: the
// extension's CreateTaskResult (resultType "task", taskId at the top) or
// 2025-11-25's ({"task":{"taskId":…}}); "" when the result is no task.
func TaskID(result []byte) string {
	if len(result) == 0 || result[0] != '{' {
		return ""
	}
	if ResultType(result) == ResultTask {
		return ResultString(result, "taskId")
	}
	if t := ParamsValue(result, "task"); len(t) > 0 && t[0] == '{' {
		return ResultString(t, "taskId")
	}
	return ""
}

// SetResultMember returns msg, a whole JSON-RPC response whose result
// (a subslice of msg) is an object, with the result's top-level key set
// to value: replaced where present, added first otherwise. Every other
// byte is as it was. It returns msg itself when result is not a subslice
// of msg or not an object.
func SetResultMember(msg, result []byte, key string, value []byte) []byte {
	off := jsonrpc.Offset(msg, result)
	if len(result) == 0 || result[0] != '{' || off < 0 || off+len(result) > len(msg) {
		return msg
	}
	var old []byte
	_ = jsonrpc.Members(result, func(k string, v []byte) error {
		if k == key {
			old = v
		}
		return nil
	})
	out := make([]byte, 0, len(msg)+len(key)+len(value)+4)
	if old != nil {
		start := jsonrpc.Offset(msg, old)
		out = append(out, msg[:start]...)
		out = append(out, value...)
		return append(out, msg[start+len(old):]...)
	}
	out = append(out, msg[:off+1]...)
	out = jsonrpc.AppendString(out, key)
	out = append(out, ':')
	out = append(out, value...)
	if !emptyObject(result) {
		out = append(out, ',')
	}
	return append(out, msg[off+1:]...)
}

// emptyObject reports whether a raw object has no members.
func emptyObject(obj []byte) bool {
	empty := true
	_ = jsonrpc.Members(obj, func(string, []byte) error {
		empty = false
		return errFound
	})
	return empty
}

// Completed returns one of Tollgate's own responses (msg) as the
// negotiated revision wants it: for the stateless era a result gets
// resultType "complete" when it has none; anything else is returned as
// it is.
func Completed(version string, msg []byte) []byte {
	if !Stateless(version) {
		return msg
	}
	m, err := jsonrpc.Parse(msg, false)
	if err != nil || m.Result == nil || ResultType(m.Result) != "" {
		return msg
	}
	return SetResultMember(msg, m.Result, "resultType", []byte(`"complete"`))
}

// Listen is what a subscriptions/listen request asked for.
type Listen struct {
	ToolsListChanged bool
	// TaskIDs are the tasks whose status notifications the client asked
	// for (the tasks extension).
	TaskIDs []string
}

// ParseListen reads the notifications filter of subscriptions/listen
// params.
func ParseListen(params []byte) Listen {
	var l Listen
	n := ParamsValue(params, "notifications")
	if len(n) == 0 || n[0] != '{' {
		return l
	}
	l.ToolsListChanged = string(ParamsValue(n, "toolsListChanged")) == "true"
	if ids := ParamsValue(n, "taskIds"); len(ids) > 0 && ids[0] == '[' {
		_ = jsonrpc.Elements(ids, func(e []byte) error {
			if s, ok := jsonrpc.Unquote(e); ok {
				l.TaskIDs = append(l.TaskIDs, s)
			}
			return nil
		})
	}
	return l
}

// AppendListChanged appends a notifications/tools/list_changed; for a
// subscriptions/listen stream (sub, the raw id of the listen request, not
// nil) it carries the subscription id in _meta, as the revision requires
// of every message on the stream.
func AppendListChanged(dst, sub []byte) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","method":"`+NotificationToolsListChanged+`"`...)
	if sub != nil {
		dst = append(dst, `,"params":{"_meta":{"`+MetaSubscriptionID+`":`...)
		dst = append(dst, sub...)
		dst = append(dst, "}}"...)
	}
	return append(dst, '}')
}

// PrivateScope returns the list response msg marked cacheScope "private":
// a present cacheScope is set to it, and an absent one added when add is
// true (a 2026-07-28 client, to which the field is required). msg itself
// is returned when nothing changes.
func PrivateScope(msg []byte, add bool) []byte {
	m, err := jsonrpc.Parse(msg, false)
	if err != nil || len(m.Result) == 0 || m.Result[0] != '{' {
		return msg
	}
	v := ParamsValue(m.Result, "cacheScope")
	if string(v) == `"`+CachePrivate+`"` || (v == nil && !add) {
		return msg
	}
	return SetResultMember(msg, m.Result, "cacheScope", []byte(`"`+CachePrivate+`"`))
}

// FilterArray returns msg, a whole response whose result is result, with
// the elements of result's array member key that keep rejects removed:
// msg itself when none is, otherwise a copy in which only that array
// changed.
func FilterArray(msg, result []byte, key string, keep func(elem []byte) bool) ([]byte, error) {
	var kept [][]byte
	dropped := false
	arr, err := jsonrpc.ArrayMember(result, key, func(e []byte) error {
		if !keep(e) {
			dropped = true
			return nil
		}
		kept = append(kept, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("filter %s: %w", key, err)
	}
	if arr == nil || !dropped {
		return msg, nil
	}
	start := jsonrpc.Offset(msg, arr)
	out := make([]byte, 0, len(msg))
	out = append(out, msg[:start]...)
	out = append(out, '[')
	for i, e := range kept {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, e...)
	}
	out = append(out, ']')
	return append(out, msg[start+len(arr):]...), nil
}

// Outcome is what the pump reads of a request's result in one pass over
// its top-level members: its resultType, an input_required result's
// requestState, and the task a result created (see TaskID).
type Outcome struct {
	ResultType, RequestState, TaskID string
}

var keyResultType, keyTask = []byte(`"resultType"`), []byte(`"task`)

// ReadOutcome reads o from a result object.
func ReadOutcome(result []byte) (o Outcome) {
	// Most results are plain: a scan for the keys' bytes costs less than
	// reading every member. A key spelt with escapes reads as absent,
	// which fails closed: no retry is free, no task visible.
	if len(result) == 0 || result[0] != '{' ||
		(!bytes.Contains(result, keyResultType) && !bytes.Contains(result, keyTask)) {
		return o
	}
	var taskID string
	_ = jsonrpc.Members(result, func(k string, v []byte) error {
		switch k {
		case "resultType":
			o.ResultType, _ = jsonrpc.Unquote(v)
		case "requestState":
			o.RequestState, _ = jsonrpc.Unquote(v)
		case "taskId":
			taskID, _ = jsonrpc.Unquote(v)
		case "task":
			if len(v) > 0 && v[0] == '{' && o.TaskID == "" {
				o.TaskID = ResultString(v, "taskId")
			}
		}
		return nil
	})
	switch {
	case o.ResultType == ResultTask:
		o.TaskID = taskID
	case o.ResultType != "":
		o.TaskID = "" // only the extension's CreateTaskResult, or 2025-11-25's (no resultType)
	}
	if o.ResultType != ResultInputRequired {
		o.RequestState = ""
	}
	return o
}
