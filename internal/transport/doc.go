// Package transport holds Tollgate's transports, one package each; this
// package itself has no code. Every side of a session they carry is a
// proxy.Conn (the contract lives beside the pump that consumes it), and one
// proxy.Pump runs each client session (the HTTP fronts start them; for
// stdio, tollgate run does), so the gate judges every transport alike.
//
//   - stdio: newline-delimited JSON, the client side on Tollgate's own stdin
//     and stdout, and the upstream side on a child process's pipes (with the
//     careful stop: stdin closed, SIGTERM, SIGKILL).
//   - streamhttp: the streamable HTTP transport (revisions 2025-03-26 to
//     2026-07-28), both the front (Server: sessions, batches and stateless
//     2026-07-28 requests) and the client to an upstream server (ClientConn).
//   - sse: the legacy HTTP+SSE transport of 2024-11-05, front and client, and
//     the Server-Sent Events codec the HTTP front shares.
//   - mux: one upstream connection shared by many sessions, with request ids
//     and progress tokens rewritten so sessions never see each other's
//     traffic.
package transport
