package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/state"
	"github.com/tollgate-mcp/tollgate/internal/state/stateopen"
)

// stateFlags are the flags that pick the counter store (Intercept's names
// included).
type stateFlags struct {
	state    string
	stateDir string
	prefix   string
	failMode string
}

func (f *stateFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.state, "state", "", "counter store: memory, sqlite:///path/file.db or redis://host:port/db (default: SQLite under --state-dir)")
	fs.StringVar(&f.state, "state-dsn", "", "same as --state (Intercept's name)")
	fs.StringVar(&f.stateDir, "state-dir", "", "directory for the default SQLite store (default $XDG_STATE_HOME/tollgate or ~/.local/state/tollgate)")
	fs.StringVar(&f.prefix, "state-prefix", "", "key prefix (and Redis Cluster hash tag) in a shared Redis (default \"tollgate\")")
	fs.StringVar(&f.failMode, "state-fail-mode", "closed", "when the store is unreachable: closed (deny calls that need it) or open (allow them)")
}

// open opens the store the flags name.
func (f *stateFlags) open(ctx context.Context, p *policy.Policy) (state.Store, error) {
	if f.failMode != "closed" && f.failMode != "open" {
		return nil, fmt.Errorf("--state-fail-mode must be closed or open, not %q", f.failMode)
	}
	if !p.Stateful() && f.state == "" {
		// No counters: do not create a state file nobody needs.
		return nil, nil
	}
	s, err := stateopen.Open(ctx, f.state, stateopen.Options{StateDir: f.stateDir, Prefix: f.prefix})
	if err != nil {
		return nil, fmt.Errorf("open the state store: %w", err)
	}
	return s, nil
}

// pollableStdin returns the process's stdin in a form whose Read is
// interrupted by Close, so the session can end when the server exits first.
func pollableStdin(e env) io.Reader {
	f, ok := e.stdin.(*os.File)
	if !ok {
		return e.stdin
	}
	fd := int(f.Fd())
	if err := syscall.SetNonblock(fd, true); err != nil {
		return e.stdin
	}
	return os.NewFile(uintptr(fd), f.Name())
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
