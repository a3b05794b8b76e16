package console

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/inspect"
	"github.com/tollgate-mcp/tollgate/internal/pins"
)

// pinCard is a pin that waits for a person, as the pins page shows it.
type pinCard struct {
	pins.Pin
	Status string
	// Hash is the definition a decision is bound to: the pending one, or
	// the approved one when only its signature is missing.
	Hash  string
	Since time.Time
	Flags []inspect.PoisonFlag
	// Diff is the unified diff from the approved definition to the
	// pending one; Definition the definition alone when nothing is
	// pending (an approval no listed approver signed).
	Diff       string
	Definition string
	Pending    bool
}

// pinsPage lists what waits for a person: every pending change (changed,
// new or rejected definitions, with their diff and the poisoning markers
// found in them) and, when the policies list approvers, every approval the
// proxies would not honour because no listed approver signed it.
func (s *Server) pinsPage(w http.ResponseWriter, r *http.Request) {
	data := map[string]any{"Title": "Pins"}
	names, err := s.approverNames()
	if err != nil {
		data["Error"] = err.Error()
	}
	data["Approvers"] = names
	if s.cfg.Pins == nil {
		data["NoStore"] = true
		s.render(w, r, "pins", data)
		return
	}
	all, err := s.cfg.Pins.List(r.Context(), "")
	if err != nil {
		data["Error"] = fmt.Sprintf("read the pins: %v", err)
	}
	keys, _ := s.approvers()
	var cards []pinCard
	for _, p := range all {
		c := pinCard{Pin: p, Status: string(p.Status()), Hash: p.Hash, Since: p.ApprovedAt}
		switch {
		case p.Pending != nil:
			old := "approved " + shortHash(p.Hash)
			if p.Hash == "" {
				old = "(never approved: new since the first list)"
			}
			c.Hash, c.Since, c.Pending = p.Pending.Hash, p.Pending.FirstSeen, true
			c.Flags = inspect.Poisoning(p.Pending.Definition)
			c.Diff = pins.Diff(old, "pending "+shortHash(p.Pending.Hash), p.Definition, p.Pending.Definition)
		case len(keys) > 0 && !verifiedByAny(keys, &p):
			c.Status = "unverified"
			c.Flags = inspect.Poisoning(p.Definition)
			c.Definition = pins.Pretty(p.Definition)
		default:
			continue
		}
		cards = append(cards, c)
	}
	data["Cards"] = cards
	s.render(w, r, "pins", data)
}

// verifiedByAny reports whether p's approval verifies against the
// approvers of one of the policies (a proxy honours it under that one). A
// pin recorded on first use has nothing to verify.
func verifiedByAny(keys map[string][]ed25519.PublicKey, p *pins.Pin) bool {
	if p.Approver == "" {
		return true
	}
	for _, k := range keys[p.Approver] {
		if pins.Verify(map[string]ed25519.PublicKey{p.Approver: k}, p) == nil {
			return true
		}
	}
	return false
}

// pinOf reads the pin a form names, and checks that the definition it was
// shown is still the one to decide: a server that changed it again since
// the page was drawn gets a fresh look, not a blind approval.
func (s *Server) pinOf(r *http.Request) (pins.Pin, string, error) {
	if s.cfg.Pins == nil {
		return pins.Pin{}, "", errors.New("this console has no pin store")
	}
	kind, err := pins.ParseKind(r.PostForm.Get("kind"))
	if err != nil {
		return pins.Pin{}, "", err
	}
	server, name, hash := r.PostForm.Get("server"), r.PostForm.Get("name"), r.PostForm.Get("hash")
	p, err := s.cfg.Pins.Get(r.Context(), server, kind, name)
	if err != nil {
		return pins.Pin{}, "", err
	}
	current := p.Hash
	if p.Pending != nil {
		current = p.Pending.Hash
	}
	if hash == "" || hash != current {
		return pins.Pin{}, "", fmt.Errorf("%s %q of %s changed since this page was drawn (it is now %s): look at it again", p.Kind, p.Name, p.Server, shortHash(current))
	}
	return p, hash, nil
}

// approvePin signs and records a person's approval of one definition, as
// tollgate pins approve does with a policy that lists approvers: their name
// and passphrase give their key, which must be one the policies list under
// that name, and the signature (pins.Sign) binds server, kind, name and the
// definition's hash. Without listed approvers nothing is approved here: an
// unsigned approval is what an agent that can write the store could forge.
func (s *Server) approvePin(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostForm.Get("approver"))
	note := strings.TrimSpace(r.PostForm.Get("note"))
	pass := r.PostForm.Get("passphrase")
	r.PostForm.Del("passphrase")
	r.Form.Del("passphrase")
	defer http.Redirect(w, r, "/pins", http.StatusSeeOther)
	fail := func(format string, a ...any) {
		s.setFlash(r, flash{Text: fmt.Sprintf("Not approved: "+format, a...)})
	}
	keys, err := s.approvers()
	if err != nil {
		fail("%v", err)
		return
	}
	if len(keys) == 0 {
		fail("the policy lists no approvers (approvals.approvers), so an approval here could not be signed; create a key with tollgate approvals keygen --name NAME, or approve on a terminal with tollgate pins approve")
		return
	}
	want, ok := keys[name]
	if !ok {
		fail("the policy lists no approver %q", name)
		return
	}
	p, hash, err := s.pinOf(r)
	if err != nil {
		fail("%v", pinErr(err))
		return
	}
	s.signing.Lock()
	key, err := approval.DeriveKey(name, pass)
	s.signing.Unlock()
	if err != nil {
		fail("%v", err)
		return
	}
	match := false
	for _, k := range want {
		match = match || k.Equal(key.Public())
	}
	if !match {
		s.cfg.Logger.Warn("console: wrong passphrase for an approver", "approver", name, "pin", p.Name, "server", p.Server)
		fail("wrong passphrase for %s (its key is not the one the policy lists)", name)
		return
	}
	a := pins.Approval{Approver: name, Note: note, Now: s.cfg.Now(),
		Signature: pins.Sign(key, p.Server, p.Kind, p.Name, hash, name)}
	got, err := s.cfg.Pins.Approve(r.Context(), p.Server, p.Kind, p.Name, hash, a)
	if err != nil {
		fail("%v", pinErr(err))
		return
	}
	s.cfg.Logger.Info("console: approved a pin", "server", got.Server, "kind", got.Kind, "name", got.Name, "hash", got.Hash, "approver", name)
	s.setFlash(r, flash{OK: true, Text: fmt.Sprintf("Approved %s %q of %s (%s) as %s, signed. A proxy shows it from its next list.",
		got.Kind, got.Name, got.Server, shortHash(got.Hash), name)})
}

// rejectPin records that a person refused a pending definition. It needs
// no key, as tollgate pins reject: it can only keep a tool held.
func (s *Server) rejectPin(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostForm.Get("approver"))
	defer http.Redirect(w, r, "/pins", http.StatusSeeOther)
	if name == "" {
		name = "console"
	}
	if !approval.ValidApproverName(name) {
		s.setFlash(r, flash{Text: fmt.Sprintf("Not rejected: %q is not a name (letters, digits, '.', '_', '@', '-')", name)})
		return
	}
	p, hash, err := s.pinOf(r)
	if err == nil && p.Pending == nil {
		err = pins.ErrNotPending
	}
	if err == nil {
		p, err = s.cfg.Pins.Reject(r.Context(), p.Server, p.Kind, p.Name, hash, name, s.cfg.Now())
	}
	if err != nil {
		s.setFlash(r, flash{Text: "Not rejected: " + pinErr(err)})
		return
	}
	s.cfg.Logger.Info("console: rejected a pin", "server", p.Server, "kind", p.Kind, "name", p.Name, "hash", hash, "by", name)
	s.setFlash(r, flash{OK: true, Text: fmt.Sprintf("Rejected the pending definition of %s %q of %s (%s). It stays held while the server shows it.",
		p.Kind, p.Name, p.Server, shortHash(hash))})
}

func pinErr(err error) string {
	switch {
	case errors.Is(err, pins.ErrNotFound):
		return "no such pin in this store"
	case errors.Is(err, pins.ErrNotPending):
		return "it has no pending change (it was already decided)"
	case errors.Is(err, pins.ErrStale):
		return "the server changed it again since this page was drawn: look at it again"
	}
	return err.Error()
}

func shortHash(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
