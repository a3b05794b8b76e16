// Package mcptest finds, builds and starts the real MCP peers that Tollgate's
// tests talk to (DESIGN.md §7): the Go SDK's conformance everything-server and
// everything-client, @modelcontextprotocol/server-everything, the MCP Inspector
// CLI, the official conformance suite, a real redis-server and the tollgate
// binary itself. It is imported by tests only.
//
// The peers come from scripts/test.sh, which tells the tests where they are
// through the environment:
//
//	TOLLGATE_PEERS_DIR       directory holding everything-server and everything-client
//	TOLLGATE_NODE_MODULES    the node_modules directory that npm ci filled
//	TOLLGATE_NODE22          a Node 22+ binary for the conformance suite
//	TOLLGATE_TEST_REDIS_URL  use this Redis instead of starting redis-server
//	TOLLGATE_REQUIRE_PEERS   "1": a missing peer fails the test instead of skipping it
//
// Without them, plain `go test ./...` still works: Go peers are built on
// demand, npm packages are found by walking up to the repository's
// node_modules, and a peer that cannot be found skips the test (or fails it
// under TOLLGATE_REQUIRE_PEERS=1, as in CI). Each helper's doc comment says
// which of its failures skip and which always fail.
package mcptest
