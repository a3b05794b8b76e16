// Package limitstest proves through the built tollgate binary, with a real
// upstream server and real SQLite and Redis stores, that rate limits and
// spend caps hold: under concurrency, across processes sharing a store,
// across restarts and crashes, per session and per identity, and when the
// store goes away. It holds tests only; docs/limits.md is the guide they
// back, and its examples are loaded here too.
package limitstest
