package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tollgate-mcp/tollgate/internal/backend"
	"github.com/tollgate-mcp/tollgate/internal/calls"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// stateFlags are the flags that pick the state backend, where the counters
// and the approvals live (Intercept's names included).
type stateFlags struct {
	state    string
	stateDir string
	prefix   string
	failMode string

	shared *sharedBackend // the backend both stores of this command come from
}

// sharedBackend is the --state backend of one command, opened by the first
// store that needs it (a failed open is retried by the next).
type sharedBackend struct {
	mu sync.Mutex
	b  *backend.Backend
}

func (f *stateFlags) register(fs *flag.FlagSet) {
	f.shared = &sharedBackend{}
	fs.StringVar(&f.state, "state", "", "state store (counters and approvals): memory, sqlite:///path/file.db or redis://host:port/db (default: SQLite under --state-dir)")
	fs.StringVar(&f.state, "state-dsn", "", "same as --state (Intercept's name)")
	fs.StringVar(&f.stateDir, "state-dir", "", "directory for the default SQLite store (default $XDG_STATE_HOME/tollgate or ~/.local/state/tollgate)")
	fs.StringVar(&f.prefix, "state-prefix", "", "key prefix (and Redis Cluster hash tag) in a shared Redis (default \"tollgate\")")
	fs.StringVar(&f.failMode, "state-fail-mode", "closed", "when the store is unreachable: closed (deny calls that need it) or open (allow them)")
}

// backend returns the backend the flags name, opening it on the first call:
// the counters and the approvals of one command share its one SQLite handle
// or Redis client. closeBackend closes it.
func (f *stateFlags) backend(ctx context.Context) (*backend.Backend, error) {
	if f.shared == nil {
		f.shared = &sharedBackend{} // flags made without register (tests)
	}
	f.shared.mu.Lock()
	defer f.shared.mu.Unlock()
	if f.shared.b == nil {
		b, err := backend.Open(ctx, f.state, backend.Options{StateDir: f.stateDir, Prefix: f.prefix})
		if err != nil {
			return nil, err
		}
		f.shared.b = b
	}
	return f.shared.b, nil
}

// closeBackend closes the backend and every store made from it, if it was
// opened; the next backend call opens it again.
func (f *stateFlags) closeBackend() {
	if f.shared == nil {
		return
	}
	f.shared.mu.Lock()
	defer f.shared.mu.Unlock()
	if f.shared.b != nil {
		f.shared.b.Close()
		f.shared.b = nil
	}
}

// open opens the counter store the flags name (nil when the policy needs
// none and no --state was given). Its Close closes the store, not the
// backend: that is closeBackend's.
func (f *stateFlags) open(ctx context.Context, p *policy.Policy) (state.Store, error) {
	if f.failMode != "closed" && f.failMode != "open" {
		return nil, fmt.Errorf("--state-fail-mode must be closed or open, not %q", f.failMode)
	}
	if !p.Stateful() && f.state == "" {
		// No counters: do not create a state file nobody needs.
		return nil, nil
	}
	b, err := f.backend(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the state store: %w", err)
	}
	s, err := b.Counters(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the state store: %w", err)
	}
	return s, nil
}

// calls returns the call store (gate.Gate.Calls) of the backend the flags
// name; like the counters', its Close leaves the backend open.
func (f *stateFlags) calls(ctx context.Context) (calls.Store, error) {
	b, err := f.backend(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the call store: %w", err)
	}
	s, err := b.Calls(ctx)
	if err != nil {
		return nil, fmt.Errorf("open the call store: %w", err)
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
	if p := pollable(f); p != nil {
		return p
	}
	return e.stdin
}

// pollable returns a non-blocking duplicate of f that the runtime's poller
// serves, or nil when that fails. It is a duplicate (dup(2)), not a second
// *os.File over the same descriptor: two owners of one number would each
// close it, and the second close would hit whatever file or socket had
// been given that number in between. f itself stays open, and sees the
// non-blocking flag too (it belongs to the open file both numbers share).
func pollable(f *os.File) *os.File {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil
	}
	dup := -1
	_ = rc.Control(func(fd uintptr) {
		if d, err := unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0); err == nil {
			dup = d
		}
	})
	if dup < 0 {
		return nil
	}
	if err := syscall.SetNonblock(dup, true); err != nil {
		syscall.Close(dup)
		return nil
	}
	return os.NewFile(uintptr(dup), f.Name())
}

// pollableStdout returns the process's stdout in non-blocking form when it
// is a pipe or a socket (what an MCP client connects), so that writes go
// through the runtime's poller like every other pipe of the session (see
// stdio.Conn). A terminal or a file is left as it is: the non-blocking flag
// belongs to the open file, which a terminal shares with the shell.
func pollableStdout(e env) io.Writer {
	f, ok := e.stdout.(*os.File)
	if !ok {
		return e.stdout
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&(os.ModeNamedPipe|os.ModeSocket) == 0 {
		return e.stdout
	}
	if p := pollable(f); p != nil {
		return p
	}
	return e.stdout
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
