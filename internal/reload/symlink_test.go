package reload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/gate"
	"github.com/tollgate-mcp/tollgate/internal/policy"
)

// linkHarness watches path (a link, set up by the test) with version 1 in
// force.
type linkHarness struct {
	g       *gate.Gate
	results chan Result
}

func watchLink(t *testing.T, path string) *linkHarness {
	t.Helper()
	p, err := policy.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	h := &linkHarness{g: gate.New(p), results: make(chan Result, 100)}
	w, err := Watch(context.Background(), Options{Path: path, Revision: p.Revision(), Debounce: 20 * time.Millisecond,
		Apply: func(p *policy.Policy) error { h.g.SetPolicy(p); return nil }, Report: func(r Result) { h.results <- r }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return h
}

// expect waits for version n to be in force.
func (h *linkHarness) expect(t *testing.T, n int, what string) {
	t.Helper()
	select {
	case r := <-h.results:
		if r.Outcome != OK {
			t.Fatalf("%s: %s %v", what, r.Outcome, r.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no reload", what)
	}
	if got, want := judge(t, h.g, "t"), fmt.Sprintf("deny rule-%d", n); got != want {
		t.Fatalf("%s: the next call got %q, want %q", what, got, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func writeVersion(t *testing.T, path string, n int) {
	t.Helper()
	must(t, os.WriteFile(path, []byte(version(n)), 0o600))
}

// repoint replaces the link at link atomically (a new link renamed over
// it), as config managers do.
func repoint(t *testing.T, link, target string) {
	t.Helper()
	tmp := link + ".tmp"
	must(t, os.Symlink(target, tmp))
	must(t, os.Rename(tmp, link))
}

// -c is a link into another directory: editing the target (in place, and
// by rename) applies, and so does re-pointing the link.
func TestReloadThroughLinkToAnotherDirectory(t *testing.T) {
	conf, store := t.TempDir(), t.TempDir()
	real := filepath.Join(store, "real.yaml")
	writeVersion(t, real, 1)
	path := filepath.Join(conf, "policy.yaml")
	must(t, os.Symlink(real, path))
	h := watchLink(t, path)

	writeVersion(t, real, 2)
	h.expect(t, 2, "target edited in place")

	tmp := filepath.Join(store, ".real.yaml.tmp")
	writeVersion(t, tmp, 3)
	must(t, os.Rename(tmp, real))
	h.expect(t, 3, "target replaced by rename")

	other := filepath.Join(t.TempDir(), "other.yaml")
	writeVersion(t, other, 4)
	repoint(t, path, other)
	h.expect(t, 4, "link re-pointed to a third directory")

	writeVersion(t, other, 5)
	h.expect(t, 5, "new target edited")

	writeVersion(t, real, 6) // the old target is no longer the policy
	select {
	case r := <-h.results:
		if r.Outcome == OK && judge(t, h.g, "t") == "deny rule-6" {
			t.Fatal("an edit of the old target was applied")
		}
	case <-time.After(300 * time.Millisecond):
	}
}

// A chain of links, each in its own directory, relative and absolute:
// every hop is watched, and a hop re-pointed in the middle applies.
func TestReloadThroughChainOfLinks(t *testing.T) {
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	writeVersion(t, filepath.Join(c, "v1.yaml"), 1)
	must(t, os.Symlink(filepath.Join(c, "v1.yaml"), filepath.Join(b, "current.yaml")))
	rel, err := filepath.Rel(a, filepath.Join(b, "current.yaml"))
	must(t, err)
	path := filepath.Join(a, "policy.yaml")
	must(t, os.Symlink(rel, path))
	h := watchLink(t, path)

	writeVersion(t, filepath.Join(c, "v1.yaml"), 2)
	h.expect(t, 2, "end of the chain edited")

	writeVersion(t, filepath.Join(c, "v3.yaml"), 3)
	repoint(t, filepath.Join(b, "current.yaml"), "../"+filepath.Base(c)+"/v3.yaml")
	h.expect(t, 3, "middle link re-pointed")

	writeVersion(t, filepath.Join(c, "v3.yaml"), 4)
	h.expect(t, 4, "new end edited")
}

// The Kubernetes ConfigMap shape reached through a link from elsewhere:
// -c /etc/x/policy.yaml → /mount/policy.yaml → ..data/policy.yaml, and
// ..data → ..vN swapped atomically in the mount.
func TestReloadThroughLinkToConfigMap(t *testing.T) {
	mount, conf := t.TempDir(), t.TempDir()
	mk := func(n int) string {
		d := filepath.Join(mount, fmt.Sprintf("..v%d", n))
		must(t, os.Mkdir(d, 0o700))
		writeVersion(t, filepath.Join(d, "policy.yaml"), n)
		return filepath.Base(d)
	}
	must(t, os.Symlink(mk(1), filepath.Join(mount, "..data")))
	must(t, os.Symlink(filepath.Join("..data", "policy.yaml"), filepath.Join(mount, "policy.yaml")))
	path := filepath.Join(conf, "policy.yaml")
	must(t, os.Symlink(filepath.Join(mount, "policy.yaml"), path))
	h := watchLink(t, path)
	for n := 2; n <= 3; n++ {
		repoint(t, filepath.Join(mount, "..data"), mk(n))
		h.expect(t, n, fmt.Sprintf("..data swap %d", n))
		must(t, os.RemoveAll(filepath.Join(mount, fmt.Sprintf("..v%d", n-1))))
	}
}
