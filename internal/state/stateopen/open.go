// Package stateopen turns a --state spec into a state.Store. It lives apart
// from package state because it imports every backend, and the backends
// import state.
package stateopen

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/redact"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
	"github.com/tollgate-mcp/tollgate/internal/state/redisstore"
	"github.com/tollgate-mcp/tollgate/internal/state/sqlitestore"
)

// Options complete a spec.
type Options struct {
	// StateDir holds the default SQLite file; empty means state.DefaultDir().
	StateDir string
	// Prefix is the Redis key prefix (redisstore.DefaultPrefix if empty).
	Prefix string
}

// Open opens the store a spec names:
//
//	""                   SQLite at <StateDir>/state.db (the default)
//	memory               in-process counters, lost on exit
//	sqlite://PATH        SQLite file at PATH: everything after "sqlite://",
//	                     so sqlite:///var/lib/tollgate/state.db is absolute and
//	                     sqlite://state.db is relative to the working directory
//	redis://[user:pass@]host:port/db, rediss://...   Redis (TLS for rediss)
//
// Anything else is an error that lists these forms.
func Open(ctx context.Context, spec string, opts Options) (state.Store, error) {
	switch {
	case spec == "":
		dir := opts.StateDir
		if dir == "" {
			var err error
			if dir, err = state.DefaultDir(); err != nil {
				return nil, err
			}
		}
		return openSQLite(ctx, filepath.Join(dir, "state.db"))
	case spec == "memory":
		return memstore.New(), nil
	case strings.HasPrefix(spec, "sqlite://"):
		path := strings.TrimPrefix(spec, "sqlite://")
		if path == "" {
			return nil, fmt.Errorf("state %q: missing file path (sqlite:///abs/path.db or sqlite://relative.db)", spec)
		}
		if strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("state %q: options are not supported in a sqlite spec", redact.URL(spec))
		}
		return openSQLite(ctx, path)
	case strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		s, err := redisstore.Open(ctx, spec, redisstore.Options{Prefix: opts.Prefix})
		if err != nil {
			return nil, fmt.Errorf("state %s: %w", redact.URL(spec), redact.Error(err, spec))
		}
		return s, nil
	}
	return nil, fmt.Errorf("state %q: unknown store; want memory, sqlite://PATH, redis://HOST:PORT/DB, rediss://... or nothing for %s", redact.URL(spec), "the default SQLite file")
}

func openSQLite(ctx context.Context, path string) (state.Store, error) {
	if err := PrivateFile(path); err != nil {
		return nil, err
	}
	s, err := sqlitestore.Open(ctx, path, sqlitestore.Options{})
	if err != nil {
		return nil, err
	}
	return s, nil
}
