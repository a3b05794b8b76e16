// Package e2e holds end-to-end tests that run the built tollgate binary
// between real MCP peers: the Go SDK's conformance everything-server and its
// client, @modelcontextprotocol/server-everything and the Inspector CLI, and
// raw JSON-RPC lines for the bypass attempts. It has no non-test code.
package e2e
