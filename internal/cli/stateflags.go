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
	"github.com/tollgate-mcp/tollgate/internal/state/memstore"
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
	fs.StringVar(&f.prefix, "state-prefix", "tollgate", "key prefix in a shared Redis")
	fs.StringVar(&f.failMode, "state-fail-mode", "closed", "when the store is unreachable: closed (deny calls that need it) or open (allow them)")
}

// open opens the store the flags name.
func (f *stateFlags) open(ctx context.Context, p *policy.Policy) (state.Store, error) {
	if f.failMode != "closed" && f.failMode != "open" {
		return nil, fmt.Errorf("--state-fail-mode must be closed or open, not %q", f.failMode)
	}
	switch f.state {
	case "memory", "":
		return memstore.New(), nil
	}
	return nil, fmt.Errorf("--state %q: unsupported store", f.state)
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
