package mcp

import (
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/fold"
)

// methods are the methods and notifications of every MCP revision, client's
// and server's.
var methods = []string{
	MethodInitialize, "ping", "notifications/initialized", NotificationCancelled,
	"notifications/progress", "notifications/message", "notifications/roots/list_changed",
	"notifications/resources/list_changed", "notifications/resources/updated",
	"notifications/prompts/list_changed", NotificationToolsListChanged,
	"notifications/elicitation/complete", "notifications/tasks/status",
	MethodToolsList, MethodToolsCall, MethodResourcesList, "resources/templates/list",
	MethodResourcesRead, MethodResourcesSubscribe, "resources/unsubscribe", MethodPromptsList,
	MethodPromptsGet, MethodCompletion, "logging/setLevel", MethodSampling,
	MethodElicitation, "roots/list", MethodTasksGet, MethodTasksResult, MethodTasksList,
	MethodTasksCancel, MethodTasksUpdate, MethodDiscover, MethodSubscriptionsListen,
}

// foldedMethods maps each method's fold to the method (built on first
// use: nothing at start).
var foldedMethods = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, len(methods))
	for _, name := range methods {
		m[fold.Name(name)] = name
	}
	return m
})

// Misspelt reports whether method is not an MCP method but a peer that
// reads names loosely (see package fold) would take it for one: for
// "Tools/Call", "tools/call " or "tools/call\u0000" it returns "tools/call"
// and true. Tollgate judges methods by their exact names, so such a
// message would reach a lenient server as a tools/call the gate never saw.
// Misspelt does not allocate for a method of lower-case ASCII.
func Misspelt(method string) (string, bool) {
	f := fold.Name(method)
	canon, ok := foldedMethods()[f]
	return canon, ok && canon != method
}
