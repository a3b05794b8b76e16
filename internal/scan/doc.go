// Package scan owns tool discovery and risk classification for
// `tollgate scan`: it lists every tool an MCP server exposes (over stdio,
// streamable HTTP or from a saved tools/list result), classifies each tool
// by what it does (Read, Write, Execute, Financial, Destructive), finds risk
// signals in its input schema, and renders the result as a policy scaffold,
// a JSON document, or a Markdown or HTML report. It also compares two JSON
// reports.
//
// Classification reads only what the server says about a tool: its name,
// description, annotations and input schema. All of these are untrusted, so
// annotations may raise a tool's risk but never lower it below what the name
// and description say.
package scan
