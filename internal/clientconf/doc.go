// Package clientconf owns the MCP client configuration files that
// `tollgate init` reads and rewrites: where each client (Claude Desktop,
// Claude Code, Cursor, VS Code, Windsurf) keeps its servers on each OS,
// reading them (JSON with comments included), editing only the bytes of the
// entries that change, and the backups that make an edit undoable byte for
// byte.
//
// Nothing here prints a secret: environment and header values are read so
// that an entry can be rewritten, but they are never part of a name, a
// message or a String.
package clientconf
