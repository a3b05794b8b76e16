// Package audit owns Tollgate's audit trail: one JSON line per decision,
// reload, start and stop, hash-chained so that an edited, removed,
// reordered or truncated line is found by Verify, written by a Log whose
// writer goroutine never makes a call wait on the disk.
//
// # Line format
//
// A line is a JSON object (see Record) whose last two members are "prev",
// the hash of the line before it in the chain, and "hash", the hex SHA-256
// of the line's own bytes with the final `,"hash":"…"` member removed (the
// text ends `"prev":"…"}`). The first line of a chain has prev "" and seq 1;
// seq counts lines across every file of the chain, and a chain continues
// across rotation and restarts.
//
// # Files
//
// A directory holds one or more chains. Chain K is written to files named
// tollgate-K-NNNNNN.jsonl (NNNNNN counts files from 000001) by one process
// at a time, which holds an advisory lock on tollgate-K.lock: a second
// Tollgate sharing the directory takes the next free K. A restarted
// Tollgate takes the lowest free K and continues that chain.
package audit
