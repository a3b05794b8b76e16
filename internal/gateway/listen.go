package gateway

import (
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
)

// A 2026-07-28 client learns of list changes through subscriptions/listen:
// a request the gateway acknowledges and keeps open, on whose stream every
// change it asked for is sent tagged with the request's id. The gateway
// answers it itself, for every server: a server's own list_changed, and a
// server coming or going, are changes of the gateway's lists.

// listKind is a list a client may hear changes of.
type listKind uint8

const (
	listTools listKind = iota
	listPrompts
	listResources
)

var listChangedMethods = [...]string{
	listTools:     mcp.NotificationToolsListChanged,
	listPrompts:   "notifications/prompts/list_changed",
	listResources: "notifications/resources/list_changed",
}

// listenFilters are the filters of subscriptions/listen the gateway
// honours, by kind.
var listenFilters = [...]string{
	listTools:     "toolsListChanged",
	listPrompts:   "promptsListChanged",
	listResources: "resourcesListChanged",
}

// subscription is a subscriptions/listen stream of the client's that is
// open.
type subscription struct {
	id    []byte // the request's raw id
	wants [len(listChangedMethods)]bool
}

// listen acknowledges a subscriptions/listen request and keeps it open
// until the client cancels it or the session ends. The acknowledgement
// names the filters honoured: the three list changes, not resource
// updates or tasks (not routed through the gateway).
func (s *session) listen(m jsonrpc.Message) {
	filter := mcp.ParamsValue(m.Params, "notifications")
	sub := &subscription{id: clone(m.ID)}
	ack := append([]byte(`{"jsonrpc":"2.0","method":"`+mcp.NotificationSubscribed+`","params":{"_meta":{"`+mcp.MetaSubscriptionID+`":`), m.ID...)
	ack = append(ack, `},"notifications":{`...)
	first := true
	for k, name := range listenFilters {
		if string(mcp.ParamsValue(filter, name)) != "true" {
			continue
		}
		sub.wants[k] = true
		if !first {
			ack = append(ack, ',')
		}
		first = false
		ack = append(ack, `"`+name+`":true`...)
	}
	ack = append(ack, "}}}"...)
	key := jsonrpc.IDKey(m.ID)
	s.mu.Lock()
	_, dup := s.clientIDs.get(keyOfClient(m.ID))
	if _, open := s.subs[key]; open || dup {
		s.mu.Unlock()
		s.toClient(jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidRequest, "invalid request: a request with this id is already in flight", nil))
		return
	}
	s.subs[key] = sub
	s.mu.Unlock()
	s.toClient(ack)
}

// unlisten ends the subscription the client cancelled, answering it as
// complete; false when id names none.
func (s *session) unlisten(id []byte) bool {
	key := jsonrpc.IDKey(id)
	s.mu.Lock()
	sub, ok := s.subs[key]
	delete(s.subs, key)
	s.mu.Unlock()
	if ok {
		s.toClient(jsonrpc.AppendResult(nil, sub.id, []byte(`{"resultType":"complete"}`)))
	}
	return ok
}

// changed tells the client that one of its lists changed: as the plain
// notification to a client that initialized, and tagged on each of its
// subscriptions that asked for it. A stateless request that opened no
// subscription is told nothing.
func (s *session) changed(k listKind) {
	s.mu.Lock()
	answered := s.answered.Load()
	var subs [][]byte
	for _, sub := range s.subs {
		if sub.wants[k] {
			subs = append(subs, sub.id)
		}
	}
	s.mu.Unlock()
	method := listChangedMethods[k]
	if answered {
		s.toClient([]byte(`{"jsonrpc":"2.0","method":"` + method + `"}`))
	}
	for _, id := range subs {
		msg := append([]byte(`{"jsonrpc":"2.0","method":"`+method+`","params":{"_meta":{"`+mcp.MetaSubscriptionID+`":`), id...)
		s.toClient(append(msg, "}}}"...))
	}
}
