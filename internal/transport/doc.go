// Package transport holds Tollgate's transports: stdio (the client side on
// the process's own stdin/stdout, and a child server process) and later
// streamable HTTP. Each implements proxy.Conn.
package transport
