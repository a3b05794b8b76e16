// Package pins owns pinned definitions: what each MCP server's tools,
// prompts, resources and resource templates say they are (name,
// description, schemas, annotations), canonicalised and hashed, the hash a
// person approved (or the first one seen: trust on first use), and the
// changes waiting for a person to look at them. A tool whose definition
// changed after it was approved — a "rug pull" — or that appeared after the
// first full list is held back until someone approves it.
//
// A Store keeps the pins of every server in one backend (memory, SQLite or
// Redis) through the small Backend contract: read one server's pins,
// change them, write them back, atomically. Store adds the semantics
// (Observe, Approve, Reject) once for every backend. A Guard is what a
// proxy holds for one server: it observes each list, decides what to hold
// under a Mode, and answers whether a call may pass.
package pins

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Kind is what a pin pins.
type Kind string

// Kinds.
const (
	Tool     Kind = "tool"
	Prompt   Kind = "prompt"
	Resource Kind = "resource"
	// Template is a resource template (resources/templates/list).
	Template Kind = "template"
)

// ParseKind parses "tool", "prompt", "resource" or "template".
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Tool, Prompt, Resource, Template:
		return k, nil
	}
	return "", fmt.Errorf("parse kind %q: want tool, prompt, resource or template", s)
}

// Mode is what pins do in a proxy.
type Mode uint8

// Modes.
const (
	// Off: nothing is recorded or held.
	Off Mode = iota + 1
	// Record: definitions are recorded, changes are flagged (audit trail,
	// log warning, pins list) but nothing is held.
	Record
	// Enforce: changed and new definitions are held out of lists and their
	// calls refused until a person approves them.
	Enforce
)

var modeNames = [...]string{Off: "off", Record: "record", Enforce: "enforce"}

func (m Mode) String() string {
	if int(m) < len(modeNames) && modeNames[m] != "" {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", m)
}

// ParseMode parses "off", "record" or "enforce".
func ParseMode(s string) (Mode, error) {
	if m, ok := ModeOf(s); ok {
		return m, nil
	}
	return 0, fmt.Errorf("parse pins mode %q: want off, record or enforce", s)
}

// ModeOf is ParseMode without the error: ok is false for anything but
// "off", "record" or "enforce" (the empty string of a policy without a
// pins key included). It does not allocate: the gate asks it on every call.
func ModeOf(s string) (m Mode, ok bool) {
	for m, n := range modeNames {
		if n != "" && n == s {
			return Mode(m), true
		}
	}
	return 0, false
}

// Errors of Approve and Reject.
var (
	// ErrNotFound: no pin by that server, kind and name.
	ErrNotFound = errors.New("no such pin")
	// ErrNotPending: the pin has no change waiting.
	ErrNotPending = errors.New("the pin has no pending change")
	// ErrStale: the pending change is not the one the caller looked at (its
	// hash differs): look again before deciding.
	ErrStale = errors.New("the pending change is not the one given")
	// ErrUnavailable wraps a backend's failure.
	ErrUnavailable = errors.New("pin store unavailable")
)

// Pin is what is known of one server's tool, prompt, resource or resource
// template.
type Pin struct {
	Server string `json:"server"`
	Kind   Kind   `json:"kind"`
	Name   string `json:"name"` // Kind.NameMember: a resource's uri, a template's uriTemplate
	// Hash and Definition are the approved definition's; Hash is "" for one
	// never approved (it appeared after the first record).
	Hash       string          `json:"hash,omitempty"`
	Definition json.RawMessage `json:"definition,omitempty"`
	ApprovedAt time.Time       `json:"approved_at,omitzero"`
	// Approver is who approved it; "" when it was recorded on first use.
	Approver  string `json:"approver,omitempty"`
	Signature string `json:"signature,omitempty"`
	Note      string `json:"note,omitempty"`
	// Pending is the definition the server shows now when it is not the
	// approved one.
	Pending *Change `json:"pending,omitempty"`
}

// Change is a definition waiting for a person.
type Change struct {
	Hash       string          `json:"hash"`
	Definition json.RawMessage `json:"definition"`
	FirstSeen  time.Time       `json:"first_seen"`
	// RejectedAt and RejectedBy are set once a person refused it; it stays
	// held (and listed as rejected) while the server shows it.
	RejectedAt time.Time `json:"rejected_at,omitzero"`
	RejectedBy string    `json:"rejected_by,omitempty"`
}

// Status summarises a pin.
type Status string

// Statuses.
const (
	Approved Status = "approved" // the approved definition is the one seen last
	Changed  Status = "changed"  // the server shows another definition
	New      Status = "new"      // never approved: appeared after the first record
	Rejected Status = "rejected" // a person refused the change the server shows
)

// Status returns the pin's status.
func (p *Pin) Status() Status {
	switch {
	case p.Pending == nil:
		return Approved
	case !p.Pending.RejectedAt.IsZero():
		return Rejected
	case p.Hash == "":
		return New
	}
	return Changed
}

// Key names a pin within a server.
func (p *Pin) Key() string { return key(p.Kind, p.Name) }

func key(k Kind, name string) string { return string(k) + ":" + name }

// Def is one definition as a list showed it.
type Def struct {
	Name       string
	Hash       string
	Definition []byte // canonical JSON
}

// Observation is what one list page showed of one server.
type Observation struct {
	Server string
	Kind   Kind
	// Defs are the definitions the page showed. The pins recorded keep
	// their Definition bytes: they must not change after the call.
	Defs []Def
	// Complete reports the page was the list's last (no nextCursor): the
	// first record of the server (trust on first use) ends with it.
	Complete bool
	Now      time.Time
}

// Approval is a person's approval of a pending change.
type Approval struct {
	Approver  string
	Signature string // over Statement, when the policy lists approvers
	Note      string
	Now       time.Time
}

// Snapshot is one server's pins as a Backend holds them. Put marks a pin
// to be written; SetBaselined marks the first record done.
type Snapshot struct {
	Server string
	// Pins by Key().
	Pins map[string]*Pin
	// Baselined holds, per kind, when the server's first full list was
	// recorded; a kind not in it is still taken on first use.
	Baselined map[Kind]time.Time

	dirty    map[string]bool
	baseline bool
}

// NewSnapshot returns an empty snapshot of server, for backends.
func NewSnapshot(server string) *Snapshot {
	return &Snapshot{Server: server, Pins: map[string]*Pin{}, Baselined: map[Kind]time.Time{}}
}

// Put stores p in the snapshot and marks it to be written.
func (s *Snapshot) Put(p *Pin) {
	if s.dirty == nil {
		s.dirty = map[string]bool{}
	}
	s.Pins[p.Key()] = p
	s.dirty[p.Key()] = true
}

// Dirty returns the pins Put since the snapshot was read, in key order,
// and whether Baselined changed: what a backend must write.
func (s *Snapshot) Dirty() (pins []*Pin, baselined bool) {
	keys := make([]string, 0, len(s.dirty))
	for k := range s.dirty {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		pins = append(pins, s.Pins[k])
	}
	return pins, s.baseline
}

func (s *Snapshot) setBaselined(k Kind, at time.Time) {
	s.Baselined[k] = at
	s.baseline = true
}

// Backend stores pins. Implementations are safe for concurrent use, and
// Update is atomic against every other Update on the same server, in this
// process or another sharing the backend.
type Backend interface {
	// Update reads server's pins, calls fn, and writes what fn marked
	// (Snapshot.Dirty) unless fn fails. fn may be called more than once (a
	// backend that retries on a conflicting writer).
	Update(ctx context.Context, server string, fn func(*Snapshot) error) error
	// Load reads server's pins.
	Load(ctx context.Context, server string) (*Snapshot, error)
	// Servers lists the servers that have pins, sorted.
	Servers(ctx context.Context) ([]string, error)
	// Close releases what the backend owns (not a shared handle).
	Close() error
}

// Store is the pin store over a Backend. It is safe for concurrent use.
type Store struct {
	b Backend
}

// NewStore returns a Store over b.
func NewStore(b Backend) *Store { return &Store{b: b} }

// Close closes the backend.
func (s *Store) Close() error { return s.b.Close() }

// Backend returns the store's backend.
func (s *Store) Backend() Backend { return s.b }

// Observe records what a list showed and returns each observed definition's
// pin afterwards, in Defs order. Until the server's first full list of
// o.Kind has been recorded (a page with Complete), a definition without a
// pin is approved as it is (trust on first use); after, it is pending as
// New. A definition whose hash is not the approved one is pending as
// Changed (a new pending hash replaces an older one, and starts a new
// FirstSeen); one that is the approved one again drops what was pending.
func (s *Store) Observe(ctx context.Context, o Observation) ([]Pin, error) {
	var out []Pin
	err := s.b.Update(ctx, o.Server, func(snap *Snapshot) error {
		out = out[:0]
		_, baselined := snap.Baselined[o.Kind]
		for _, d := range o.Defs {
			k := key(o.Kind, d.Name)
			p, ok := snap.Pins[k]
			switch {
			case !ok && !baselined:
				p = &Pin{Server: o.Server, Kind: o.Kind, Name: d.Name, Hash: d.Hash,
					Definition: d.Definition, ApprovedAt: o.Now}
				snap.Put(p)
			case !ok:
				p = &Pin{Server: o.Server, Kind: o.Kind, Name: d.Name,
					Pending: &Change{Hash: d.Hash, Definition: d.Definition, FirstSeen: o.Now}}
				snap.Put(p)
			case d.Hash == p.Hash:
				if p.Pending != nil {
					c := *p
					c.Pending = nil
					p = &c
					snap.Put(p)
				}
			case p.Pending == nil || p.Pending.Hash != d.Hash:
				c := *p
				c.Pending = &Change{Hash: d.Hash, Definition: d.Definition, FirstSeen: o.Now}
				p = &c
				snap.Put(p)
			}
		}
		if o.Complete && !baselined {
			snap.setBaselined(o.Kind, o.Now)
		}
		for _, d := range o.Defs {
			// A name listed twice reads the pin as the whole page left it.
			out = append(out, *snap.Pins[key(o.Kind, d.Name)])
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("observe %s pins of %q: %w", o.Kind, o.Server, err)
	}
	return out, nil
}

// List returns the pins of server ("" for every server), by server, kind
// and name.
func (s *Store) List(ctx context.Context, server string) ([]Pin, error) {
	servers := []string{server}
	if server == "" {
		var err error
		if servers, err = s.b.Servers(ctx); err != nil {
			return nil, fmt.Errorf("list pins: %w", err)
		}
	}
	var out []Pin
	for _, sv := range servers {
		snap, err := s.b.Load(ctx, sv)
		if err != nil {
			return nil, fmt.Errorf("list pins of %q: %w", sv, err)
		}
		keys := make([]string, 0, len(snap.Pins))
		for k := range snap.Pins {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, *snap.Pins[k])
		}
	}
	return out, nil
}

// Get returns one pin.
func (s *Store) Get(ctx context.Context, server string, kind Kind, name string) (Pin, error) {
	snap, err := s.b.Load(ctx, server)
	if err != nil {
		return Pin{}, fmt.Errorf("get pin %s %q of %q: %w", kind, name, server, err)
	}
	p, ok := snap.Pins[key(kind, name)]
	if !ok {
		return Pin{}, fmt.Errorf("get pin %s %q of %q: %w", kind, name, server, ErrNotFound)
	}
	return *p, nil
}

// Approve makes the pending change of a pin, whose hash must be hash, its
// approved definition. A pin with nothing pending may be approved again by
// its own hash: that replaces who approved it and their signature (a
// person signing what was recorded on first use, or approved unsigned).
func (s *Store) Approve(ctx context.Context, server string, kind Kind, name, hash string, a Approval) (Pin, error) {
	var out Pin
	err := s.b.Update(ctx, server, func(snap *Snapshot) error {
		if p, ok := snap.Pins[key(kind, name)]; ok && p.Pending == nil && p.Hash == hash && hash != "" {
			c := *p
			c.ApprovedAt, c.Approver, c.Signature, c.Note = a.Now, a.Approver, a.Signature, a.Note
			snap.Put(&c)
			out = c
			return nil
		}
		p, err := pending(snap, kind, name, hash)
		if err != nil {
			return err
		}
		c := *p
		c.Hash, c.Definition, c.Pending = p.Pending.Hash, p.Pending.Definition, nil
		c.ApprovedAt, c.Approver, c.Signature, c.Note = a.Now, a.Approver, a.Signature, a.Note
		snap.Put(&c)
		out = c
		return nil
	})
	if err != nil {
		return Pin{}, fmt.Errorf("approve %s %q of %q: %w", kind, name, server, err)
	}
	return out, nil
}

// Reject marks the pending change of a pin, whose hash must be hash, as
// refused by who. The pin stays held while the server shows it.
func (s *Store) Reject(ctx context.Context, server string, kind Kind, name, hash, who string, now time.Time) (Pin, error) {
	var out Pin
	err := s.b.Update(ctx, server, func(snap *Snapshot) error {
		p, err := pending(snap, kind, name, hash)
		if err != nil {
			return err
		}
		c := *p
		ch := *p.Pending
		ch.RejectedAt, ch.RejectedBy = now, who
		c.Pending = &ch
		snap.Put(&c)
		out = c
		return nil
	})
	if err != nil {
		return Pin{}, fmt.Errorf("reject %s %q of %q: %w", kind, name, server, err)
	}
	return out, nil
}

func pending(snap *Snapshot, kind Kind, name, hash string) (*Pin, error) {
	p, ok := snap.Pins[key(kind, name)]
	switch {
	case !ok:
		return nil, ErrNotFound
	case p.Pending == nil:
		return nil, ErrNotPending
	case hash != p.Pending.Hash:
		return nil, fmt.Errorf("%w: it is %s, not %s", ErrStale, short(p.Pending.Hash), short(hash))
	}
	return p, nil
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	if h == "" {
		return `""`
	}
	return h
}

// MatchHash reports whether prefix (at least 8 hex digits) starts hash, so
// a person may type the short hash pins list shows.
func MatchHash(hash, prefix string) bool {
	return len(prefix) >= 8 && strings.HasPrefix(hash, strings.ToLower(prefix))
}
