package pins

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/tollgate-mcp/tollgate/internal/fold"
	"hash"
	"maps"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/inspect"
)

// Guard holds one server's pins for a proxy: it records each list it is
// shown and says which entries must be held back and whether a call may
// pass. It does not know the mode: Verdict.Held says what enforce would
// hold, and the caller decides to hold (enforce) or only report (record).
// A Guard is safe for concurrent use.
type Guard struct {
	server string
	store  *Store

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu   sync.Mutex
	view map[string]Verdict // by key(kind, name): the last verdict
	// defs caches Definition by the SHA-256 of an entry's raw bytes: a
	// server sends the same bytes list after list, and canonicalising them
	// is most of an observation's cost. Keyed by the hash, not the bytes,
	// so that the cache does not keep a copy of every list it saw (1.5 MB
	// for 323 tools); a cryptographic hash, so that no entry can be made
	// to pass for another. reader reads what the cache lacks.
	defs   map[[sha256.Size]byte]defResult
	reader defReader
	sha    hash.Hash // hashes the entries for defs
	// confirmed is set once a complete list was recorded with approvers
	// (the keys it was verified with): from then on a page whose every
	// entry is exactly a definition the view holds as approved needs no
	// store round trip (nothing in it can be fresh or held).
	confirmed bool
	approvers map[string]ed25519.PublicKey
	// gen counts the changes to view, confirmed and approvers.
	gen uint64
}

type defResult struct {
	d   Def
	err error
}

// maxCachedDefs bounds the definition cache; past it, it starts afresh.
const maxCachedDefs = 8192

// NewGuard returns the Guard of server's pins in store. server is how the
// pins are keyed: the same server must get the same name in every proxy
// and run (tollgate run uses its upstream command line or URL, or
// --server-name).
func NewGuard(server string, store *Store) *Guard {
	return &Guard{server: server, store: store, view: map[string]Verdict{}}
}

// Server returns the server name the guard keys pins by.
func (g *Guard) Server() string { return g.server }

// Store returns the guard's store.
func (g *Guard) Store() *Store { return g.store }

// Generation counts the changes to what the guard knows (its verdicts and
// whether a complete list confirmed them): while it stays the same, an
// observation of the same entries under the same approvers gives the same
// verdicts.
func (g *Guard) Generation() uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.gen
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Verdict is what a guard says of one listed definition.
type Verdict struct {
	Kind Kind
	Name string
	Hash string // "" when the entry could not be read
	// Status is the pin's, or "" when the store could not be asked
	// (StoreError) or the entry not read (Reason says why).
	Status Status
	// Held reports that enforce holds the entry back: it is not the
	// approved definition, its approval is not signed by a listed approver,
	// it is ambiguous, or the store could not confirm it.
	Held   bool
	Reason string
	// Fresh reports the change (or the first-use record) was first seen by
	// this observation: flag it once, not at every list.
	Fresh bool
	// FirstUse reports the definition was recorded as approved just now
	// (trust on first use).
	FirstUse bool
	// Flags are the poisoning markers in the definition, for Fresh
	// verdicts (others were flagged when they were fresh).
	Flags []inspect.PoisonFlag
	// StoreError is the store's failure when it could not be asked.
	StoreError error
}

// Observe records one page of a list (its raw entries, in order; complete
// when it is the list's last page) and returns a verdict per entry. When
// the store fails it returns the error too, and verdicts from what the
// guard last knew (fail closed): an entry is shown only if it is exactly
// the definition last confirmed approved. approvers are the policy's
// approver keys; when not empty, an approved change counts only with a
// valid signature (Verify).
func (g *Guard) Observe(ctx context.Context, kind Kind, entries [][]byte, complete bool, approvers map[string]ed25519.PublicKey) ([]Verdict, error) {
	now := g.now()
	out := make([]Verdict, len(entries))
	var defs []Def
	var idx []int // out index of each def
	g.mu.Lock()
	if g.defs == nil || len(g.defs) > maxCachedDefs {
		g.defs = make(map[[sha256.Size]byte]defResult, len(entries))
	}
	for i, e := range entries {
		// The kind is hashed too: one entry is a different definition
		// as a tool and as a prompt.
		if g.sha == nil {
			g.sha = sha256.New()
		}
		g.sha.Reset()
		g.sha.Write([]byte(kind))
		g.sha.Write([]byte{0})
		g.sha.Write(e)
		var sum [sha256.Size]byte
		g.sha.Sum(sum[:0])
		r, ok := g.defs[sum]
		if !ok {
			r.d, r.err = g.reader.read(kind, e)
			g.defs[sum] = r
		}
		d, err := r.d, r.err
		if err != nil {
			out[i] = Verdict{Kind: kind, Name: entryName(kind, e), Held: true, Fresh: true,
				Reason: "its definition cannot be pinned: " + err.Error()}
			continue
		}
		out[i] = Verdict{Kind: kind, Name: d.Name, Hash: d.Hash}
		defs = append(defs, d)
		idx = append(idx, i)
	}
	if g.allApproved(kind, out, len(idx) == len(entries), approvers) {
		for i := range out {
			out[i].Status = Approved
		}
		g.mu.Unlock()
		return out, nil
	}
	g.mu.Unlock()
	got, err := g.store.Observe(ctx, Observation{Server: g.server, Kind: kind, Defs: defs, Complete: complete, Now: now})
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		for _, i := range idx {
			v := &out[i]
			last, ok := g.view[key(kind, v.Name)]
			v.StoreError = err
			if ok && !last.Held && last.Hash == v.Hash {
				v.Status = Approved
				continue
			}
			v.Held = true
			v.Reason = "the pin store is unavailable, so this definition could not be confirmed as approved (fail closed): " + err.Error()
		}
		g.remember(out)
		return out, err
	}
	for j, p := range got {
		v := &out[idx[j]]
		v.Status = p.Status()
		switch {
		case p.Hash != v.Hash || p.Pending != nil:
			v.Held = true
			v.Reason = heldReason(&p)
			v.Fresh = p.Pending != nil && p.Pending.FirstSeen.Equal(now)
		default:
			v.FirstUse = p.Approver == "" && p.ApprovedAt.Equal(now)
			v.Fresh = v.FirstUse
			if len(approvers) > 0 {
				if err := Verify(approvers, &p); err != nil {
					v.Held = true
					v.Reason = err.Error()
				}
			}
		}
		if v.Fresh {
			v.Flags = inspect.Poisoning(defs[j].Definition)
		}
	}
	g.remember(out)
	if complete {
		g.confirmed, g.approvers = true, approvers
		g.gen++
	}
	return out, nil
}

// allApproved reports whether every verdict is of a definition the view
// holds as approved, confirmed by the store under the same approvers: the
// store would answer the same, so it is not asked. Called with g.mu held.
func (g *Guard) allApproved(kind Kind, vs []Verdict, readable bool, approvers map[string]ed25519.PublicKey) bool {
	if !g.confirmed || !readable || !maps.EqualFunc(g.approvers, approvers, func(a, b ed25519.PublicKey) bool { return a.Equal(b) }) {
		return false
	}
	for _, v := range vs {
		last, ok := g.view[key(kind, v.Name)]
		if !ok || last.Held || last.Hash != v.Hash || last.StoreError != nil || last.Status != Approved {
			return false
		}
	}
	return true
}

// remember keeps the verdicts for calls. A name listed twice keeps the
// held one.
func (g *Guard) remember(vs []Verdict) {
	seen := map[string]bool{}
	for _, v := range vs {
		if v.Name == "" {
			continue
		}
		k := key(v.Kind, v.Name)
		if seen[k] && !v.Held {
			continue
		}
		seen[k] = true
		g.view[k] = v
	}
	g.gen++
}

func heldReason(p *Pin) string {
	switch p.Status() {
	case New:
		return fmt.Sprintf("%s %q is new since the server's first list and waits for a person to approve it (tollgate pins)", p.Kind, p.Name)
	case Rejected:
		return fmt.Sprintf("the definition %s %q shows now was rejected by %s; it stays held while the server shows it", p.Kind, p.Name, p.Pending.RejectedBy)
	}
	return fmt.Sprintf("the definition of %s %q changed since it was approved and waits for a person to review it (tollgate pins diff)", p.Kind, p.Name)
}

// Check returns the verdict on a call to kind name: the last list's (or
// Load's). ok is false when the guard has seen no definition of it: under
// enforce the call is refused, as nothing confirms what it is.
func (g *Guard) Check(kind Kind, name string) (v Verdict, ok bool) {
	var buf [96]byte
	k := append(append(append(buf[:0], kind...), ':'), name...)
	g.mu.Lock()
	v, ok = g.view[string(k)] // no string is built for the lookup
	g.mu.Unlock()
	return v, ok
}

// HeldAs returns a held verdict on kind whose name is not name but reads
// as name to a server that reads names loosely (fold.Equal: case, spaces,
// control and format characters); ok is false when there is none. The
// caller asks when the guard has no verdict on name itself: such a request
// may reach the held entry. It walks the guard's view (a request for a name
// no list showed is rare).
func (g *Guard) HeldAs(kind Kind, name string) (v Verdict, ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, v := range g.view {
		if v.Held && v.Kind == kind && v.Name != name && fold.Equal(v.Name, name) {
			return v, true
		}
	}
	return Verdict{}, false
}

// Load reads the server's pins into the guard, so that a call before any
// list is judged by the stored record: an approved pin with nothing
// pending (and, with approvers, a valid signature) passes.
func (g *Guard) Load(ctx context.Context, approvers map[string]ed25519.PublicKey) error {
	ps, err := g.store.List(ctx, g.server)
	if err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range ps {
		k := p.Key()
		if _, seen := g.view[k]; seen {
			continue // a list came first: it is newer
		}
		v := Verdict{Kind: p.Kind, Name: p.Name, Hash: p.Hash, Status: p.Status()}
		if p.Pending != nil || p.Hash == "" {
			v.Held, v.Reason = true, heldReason(&p)
		} else if len(approvers) > 0 {
			if err := Verify(approvers, &p); err != nil {
				v.Held, v.Reason = true, err.Error()
			}
		}
		g.view[k] = v
	}
	g.gen++
	return nil
}

// entryName is the name of an entry Definition refused, when it can be
// read at all.
func entryName(kind Kind, e []byte) string {
	d, err := Definition(kind, e)
	if err == nil {
		return d.Name
	}
	if errors.Is(err, ErrAmbiguous) {
		return looseName(kind, e)
	}
	return ""
}

// Watch notices approvals given elsewhere (the CLI, another proxy) while
// tools are held: every interval, when the guard holds something, it reads
// the server's pins, and for each held definition a person has since
// approved (with, when approvers lists keys, a valid signature) it marks
// the definition approved and calls changed once for the round, so that
// the caller can tell its sessions the list changed. It returns when ctx
// is done.
func (g *Guard) Watch(ctx context.Context, interval time.Duration, approvers func() map[string]ed25519.PublicKey, changed func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if g.released(ctx, approvers()) {
			changed()
		}
	}
}

// released does one round of Watch and reports whether something held was
// released.
func (g *Guard) released(ctx context.Context, approvers map[string]ed25519.PublicKey) bool {
	g.mu.Lock()
	var held []Verdict
	for _, v := range g.view {
		if v.Held && v.Hash != "" {
			held = append(held, v)
		}
	}
	g.mu.Unlock()
	if len(held) == 0 {
		return false
	}
	snap, err := g.store.b.Load(ctx, g.server)
	if err != nil {
		return false
	}
	released := false
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, v := range held {
		k := key(v.Kind, v.Name)
		p, ok := snap.Pins[k]
		if !ok || p.Pending != nil || p.Hash != v.Hash {
			continue
		}
		if len(approvers) > 0 && Verify(approvers, p) != nil {
			continue
		}
		if cur, ok := g.view[k]; ok && cur.Held && cur.Hash == v.Hash {
			cur.Held, cur.Status, cur.Reason, cur.StoreError = false, Approved, "", nil
			g.view[k] = cur
			g.gen++
			released = true
		}
	}
	return released
}
