// Package reload watches a policy file and applies each valid new version
// without a restart. It watches the file's directory (not the file), so a
// file replaced by rename — as editors and config managers do, over and
// over — keeps being watched; it re-reads the file by path after a short
// debounce, skips content it has already seen, and keeps the policy in
// force when the new file does not load.
//
// A policy path that is a symbolic link, a chain of them, or that passes
// through a linked directory (a Kubernetes ConfigMap's ..data) is followed:
// every directory holding a link of the chain or its final file is
// watched, and the set is worked out again after each change, so editing
// the target, re-pointing a link or swapping ..data all apply.
package reload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// DefaultDebounce is how long the watcher waits after the last change
// before reading the file: long enough for an editor's save (truncate,
// write, rename) to finish, short enough to feel immediate.
const DefaultDebounce = 100 * time.Millisecond

// Outcomes of a reload attempt (the result label of tollgate_reloads_total).
const (
	OK       = "ok"       // the new policy is in force
	Invalid  = "invalid"  // the file does not load; the old policy stays
	Rejected = "rejected" // it loads, but Apply refused it; the old policy stays
	Error    = "error"    // the file could not be read; the old policy stays
)

// Result describes one reload attempt.
type Result struct {
	Time    time.Time
	Path    string
	Outcome string
	// Policy is the new policy when Outcome is OK.
	Policy *policy.Policy
	// Err says what was wrong when Outcome is not OK; for Invalid it is a
	// *policy.LoadError listing every problem.
	Err error
}

// Problems returns Err as a list of lines (one per policy problem).
func (r Result) Problems() []string {
	if r.Err == nil {
		return nil
	}
	var le *policy.LoadError
	if errors.As(r.Err, &le) {
		out := make([]string, len(le.Problems))
		for i, p := range le.Problems {
			out[i] = p.String()
		}
		return out
	}
	return []string{r.Err.Error()}
}

// Options configure a Watcher.
type Options struct {
	// Path is the policy file.
	Path string
	// Revision is the revision of the policy in force at start, so an
	// unchanged file is not re-applied.
	Revision string
	// Debounce overrides DefaultDebounce.
	Debounce time.Duration
	// Apply puts a new valid policy in force (gate.SetPolicy and whatever
	// else follows the policy). An error rejects the policy. Apply is called
	// from the watcher's goroutine, one call at a time.
	Apply func(p *policy.Policy) error
	// Report is told every attempt, applied or not, after Apply. It may be
	// nil.
	Report func(r Result)
	// Logger receives the outcome of each attempt; nil discards it.
	Logger *slog.Logger
	// Suffix is appended to the file's content before it is loaded (and
	// before the content is compared with Revision's), as the file was
	// loaded at start: a gateway tags a server's policy with the server.
	Suffix []byte
}

// Watcher watches one policy file. Close stops it and waits for its
// goroutine.
type Watcher struct {
	opts   Options
	fw     *fsnotify.Watcher
	target string // cleaned absolute path
	cancel context.CancelFunc

	// Owned by the watcher's goroutine (and Watch before it starts).
	dirs  map[string]bool // directories watched (symbolic links resolved)
	names map[string]bool // the chain's links and file, as events name them

	done chan struct{}
	once sync.Once

	seen string // sha256 of the last content tried (applied or not)
}

// Watch starts watching opts.Path. The watch is in place when Watch
// returns: any change made after it is seen.
func Watch(ctx context.Context, opts Options) (*Watcher, error) {
	if opts.Apply == nil {
		return nil, errors.New("watch policy: no Apply function")
	}
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	target, err := filepath.Abs(opts.Path)
	if err != nil {
		return nil, fmt.Errorf("watch policy: %w", err)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch policy: %w", err)
	}
	if err := fw.Add(filepath.Dir(target)); err != nil {
		fw.Close()
		return nil, fmt.Errorf("watch policy: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{opts: opts, fw: fw, target: target, cancel: cancel, done: make(chan struct{}), seen: opts.Revision,
		dirs: map[string]bool{filepath.Dir(target): true}}
	w.rewatch()
	go w.run(ctx)
	return w, nil
}

// Close stops watching. It may be called more than once.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		w.cancel()
		<-w.done
		err = w.fw.Close()
	})
	return err
}

func (w *Watcher) run(ctx context.Context) {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if w.relevant(ev) {
				w.rewatch() // a link may point elsewhere now
				timer.Reset(w.opts.Debounce)
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			w.opts.Logger.Warn("policy watcher: missed file events; re-reading the policy", "err", err)
			timer.Reset(w.opts.Debounce)
		case <-timer.C:
			w.rewatch()
			w.reload()
		}
	}
}

// relevant reports whether ev may have changed the policy file: an event on
// the file itself, or on a Kubernetes-style ..data link swap in its
// directory, or any event when the policy path is a symbolic link (its
// target may live elsewhere in the directory).
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	if name := filepath.Clean(ev.Name); name == w.target || w.names[name] {
		return true
	}
	if strings.HasPrefix(filepath.Base(ev.Name), "..") {
		return true
	}
	fi, err := os.Lstat(w.target)
	return err == nil && fi.Mode()&os.ModeSymlink != 0
}

// maxLinks bounds a chain of symbolic links (the kernel's own limit is 40).
const maxLinks = 40

// rewatch works out the directories the policy path depends on — the one
// holding it, and the one holding each symbolic link met on the way to
// the file (links in the path's own directories included), and the file's
// own — and watches exactly those. A directory that cannot be watched (it
// is gone, or the chain is broken for now) is skipped: the next change
// around it or the next reload tries again.
func (w *Watcher) rewatch() {
	names := map[string]bool{}
	want := map[string]bool{filepath.Dir(w.target): true}
	note := func(p string) {
		names[p] = true
		dir := filepath.Dir(p)
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			dir = r
		}
		names[filepath.Join(dir, filepath.Base(p))] = true
		want[dir] = true
	}
	p := w.target
	for range maxLinks {
		note(p)
		// Links among p's ancestors (a ..data directory link).
		for a := filepath.Dir(p); a != filepath.Dir(a); a = filepath.Dir(a) {
			if fi, err := os.Lstat(a); err == nil && fi.Mode()&os.ModeSymlink != 0 {
				note(a)
			}
		}
		fi, err := os.Lstat(p)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			break
		}
		next, err := os.Readlink(p)
		if err != nil {
			break
		}
		if !filepath.IsAbs(next) {
			next = filepath.Join(filepath.Dir(p), next)
		}
		p = filepath.Clean(next)
	}
	if r, err := filepath.EvalSymlinks(w.target); err == nil {
		note(r)
	}
	for d := range want {
		if !w.dirs[d] && w.fw.Add(d) == nil {
			w.dirs[d] = true
		}
	}
	for d := range w.dirs {
		if !want[d] {
			_ = w.fw.Remove(d)
			delete(w.dirs, d)
		}
	}
	w.names = names
}

// reload reads the file and, when its content is new, loads and applies it.
func (w *Watcher) reload() {
	res := Result{Time: time.Now(), Path: w.opts.Path}
	data, err := os.ReadFile(w.target)
	if err != nil {
		if w.seen == "unreadable" {
			return
		}
		w.seen = "unreadable"
		res.Outcome, res.Err = Error, fmt.Errorf("reload policy: %w", err)
		w.finish(res)
		return
	}
	data = append(data, w.opts.Suffix...)
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	if h == w.seen {
		return
	}
	w.seen = h
	p, err := policy.Load(w.opts.Path, data)
	if err != nil {
		res.Outcome, res.Err = Invalid, err
		w.finish(res)
		return
	}
	if err := w.opts.Apply(p); err != nil {
		res.Outcome, res.Err = Rejected, fmt.Errorf("reload policy: %w", err)
		w.finish(res)
		return
	}
	res.Outcome, res.Policy = OK, p
	w.finish(res)
}

func (w *Watcher) finish(res Result) {
	log := w.opts.Logger
	switch res.Outcome {
	case OK:
		log.Info("policy reloaded", "file", res.Path, "revision", short(res.Policy.Revision()))
	default:
		log.Error("policy reload failed; the previous policy stays in force", "file", res.Path, "result", res.Outcome)
		for _, p := range res.Problems() {
			log.Error("policy reload: " + p)
		}
	}
	if w.opts.Report != nil {
		w.opts.Report(res)
	}
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
