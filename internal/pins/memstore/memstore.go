// Package memstore is the in-process pins.Backend: pins live as long as
// the process (tests, --state memory).
package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tollgate-mcp/tollgate/internal/pins"
)

var _ pins.Backend = (*Backend)(nil)

// Backend keeps pins in memory; it is safe for concurrent use.
type Backend struct {
	mu      sync.Mutex
	closed  bool
	servers map[string]*pins.Snapshot
}

// New returns an empty Backend.
func New() *Backend { return &Backend{servers: map[string]*pins.Snapshot{}} }

var errClosed = fmt.Errorf("pins memstore: %w: closed", pins.ErrUnavailable)

// Update implements pins.Backend.
func (b *Backend) Update(_ context.Context, server string, fn func(*pins.Snapshot) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errClosed
	}
	snap := b.copyOf(server)
	if err := fn(snap); err != nil {
		return err
	}
	dirty, baselined := snap.Dirty()
	if len(dirty) == 0 && !baselined {
		return nil
	}
	cur, ok := b.servers[server]
	if !ok {
		cur = pins.NewSnapshot(server)
		b.servers[server] = cur
	}
	for _, p := range dirty {
		cur.Pins[p.Key()] = deep(p)
	}
	for k, at := range snap.Baselined {
		cur.Baselined[k] = at
	}
	return nil
}

// Load implements pins.Backend.
func (b *Backend) Load(_ context.Context, server string) (*pins.Snapshot, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	return b.copyOf(server), nil
}

// Servers implements pins.Backend.
func (b *Backend) Servers(context.Context) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errClosed
	}
	out := make([]string, 0, len(b.servers))
	for s := range b.servers {
		out = append(out, s)
	}
	slices.Sort(out)
	return out, nil
}

// Close implements pins.Backend; later calls fail.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *Backend) copyOf(server string) *pins.Snapshot {
	snap := pins.NewSnapshot(server)
	cur, ok := b.servers[server]
	if !ok {
		return snap
	}
	for k, p := range cur.Pins {
		snap.Pins[k] = deep(p)
	}
	for k, at := range cur.Baselined {
		snap.Baselined[k] = at
	}
	return snap
}

// deep copies a pin so that no caller shares its slices with the store.
func deep(p *pins.Pin) *pins.Pin {
	c := *p
	c.Definition = append(json.RawMessage(nil), p.Definition...)
	if p.Pending != nil {
		ch := *p.Pending
		ch.Definition = append(json.RawMessage(nil), p.Pending.Definition...)
		c.Pending = &ch
	}
	return &c
}

// Handle returns a view of b with a Close of its own, as a second process
// opening the same storage would have: closing it leaves b and its other
// handles open.
func (b *Backend) Handle() pins.Backend { return &handle{b: b} }

type handle struct {
	b      *Backend
	closed atomic.Bool
}

func (h *handle) Update(ctx context.Context, server string, fn func(*pins.Snapshot) error) error {
	if h.closed.Load() {
		return errClosed
	}
	return h.b.Update(ctx, server, fn)
}

func (h *handle) Load(ctx context.Context, server string) (*pins.Snapshot, error) {
	if h.closed.Load() {
		return nil, errClosed
	}
	return h.b.Load(ctx, server)
}

func (h *handle) Servers(ctx context.Context) ([]string, error) {
	if h.closed.Load() {
		return nil, errClosed
	}
	return h.b.Servers(ctx)
}

func (h *handle) Close() error {
	h.closed.Store(true)
	return nil
}
