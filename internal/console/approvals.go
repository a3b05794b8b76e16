package console

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/policy"
	"github.com/tollgate-mcp/tollgate/internal/visible"
)

// heldCall is a pending approval as the queue shows it.
type heldCall struct {
	approval.Record
	Pretty   string // the arguments, indented, invisible characters shown
	Expires  string
	Revision string
}

func (s *Server) approvalsPage(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	recs, err := s.cfg.Approvals.List(r.Context(), approval.Filter{Status: approval.Pending, Limit: 200, Now: now})
	data := map[string]any{"Title": "Approvals"}
	if err != nil {
		data["Error"] = fmt.Sprintf("read the approvals queue: %v", err)
	}
	var held []heldCall
	for _, rec := range recs {
		rev := rec.PolicyRev
		if len(rev) > 12 {
			rev = rev[:12]
		}
		held = append(held, heldCall{Record: rec, Pretty: prettyArgs(rec.Args),
			Expires: fmt.Sprintf("%s (in %s)", rec.ExpiresAt.Local().Format(time.DateTime), rec.ExpiresAt.Sub(now).Round(time.Second)), Revision: rev})
	}
	recent, _ := s.cfg.Approvals.List(r.Context(), approval.Filter{Limit: 20, Now: now})
	var decided []approval.Record
	for _, rec := range recent {
		if rec.Status != approval.Pending {
			decided = append(decided, rec)
		}
	}
	names, perr := s.approverNames()
	if perr != nil {
		data["Error"] = perr.Error()
	}
	data["Held"] = held
	data["Decided"] = decided
	data["Approvers"] = names
	s.render(w, r, "approvals", data)
}

// approvers reads approvals.approvers from every policy file: whose key
// counts, as the proxies (which load the same files) will check it.
func (s *Server) approvers() (map[string][]ed25519.PublicKey, error) {
	keys := map[string][]ed25519.PublicKey{}
	for _, path := range s.cfg.Policies {
		p, err := policy.LoadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read approvers: %w", err)
		}
		for name, k := range p.Approvals().Approvers {
			keys[name] = append(keys[name], k)
		}
	}
	return keys, nil
}

// maxTimeout is the longest approvals.timeout of the policy files: no
// record a proxy under one of them makes lives longer.
func (s *Server) maxTimeout() time.Duration {
	var longest time.Duration
	for _, path := range s.cfg.Policies {
		if p, err := policy.LoadFile(path); err == nil {
			longest = max(longest, p.Approvals().Timeout)
		}
	}
	return longest
}

func (s *Server) approverNames() ([]string, error) {
	keys, err := s.approvers()
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, err
}

// approve signs and records a person's approval: their name and
// passphrase give their key (approval.DeriveKey, as the CLI derives it),
// which must be one the policy lists under that name; the signature over
// the record (approval.SignDecision) is stored with the decision
// (approval.Store.Decide). The passphrase goes no further than DeriveKey.
func (s *Server) approve(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	name := strings.TrimSpace(r.PostForm.Get("approver"))
	note := strings.TrimSpace(r.PostForm.Get("note"))
	pass := r.PostForm.Get("passphrase")
	r.PostForm.Del("passphrase")
	r.Form.Del("passphrase")
	defer http.Redirect(w, r, "/approvals", http.StatusSeeOther)
	fail := func(format string, a ...any) {
		s.setFlash(r, flash{Text: fmt.Sprintf("Not approved: "+format, a...)})
	}
	keys, err := s.approvers()
	if err != nil {
		fail("%v", err)
		return
	}
	if len(keys) == 0 {
		fail("the policy lists no approvers (approvals.approvers); create a key with tollgate approvals keygen --name NAME")
		return
	}
	want, ok := keys[name]
	if !ok {
		fail("the policy lists no approver %q", name)
		return
	}
	now := s.cfg.Now()
	rec, err := s.cfg.Approvals.Get(r.Context(), id, now)
	if err != nil {
		fail("%s: %v", id, decideErr(err))
		return
	}
	if rec.Status != approval.Pending {
		fail("%s: %v", id, decideErr(approval.ErrNotPending))
		return
	}
	// The call the page showed is the one signed: the form carries its
	// fingerprint, and the record must still be that call, and be one
	// Tollgate could have made.
	if shown := r.PostForm.Get("fingerprint"); shown == "" || shown != rec.Fingerprint {
		fail("%s changed since this page was drawn: look at it again", id)
		return
	}
	if err := approval.CheckShown(rec); err != nil {
		fail("%v", err)
		return
	}
	if err := approval.CheckExpiry(rec, now, s.maxTimeout()); err != nil {
		fail("%v", err)
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
		s.cfg.Logger.Warn("console: wrong passphrase for an approver", "approver", name, "approval", id)
		fail("wrong passphrase for %s (its key is not the one the policy lists)", name)
		return
	}
	sig, err := approval.SignDecision(key, rec, name)
	if err != nil {
		fail("%v", err)
		return
	}
	rec, err = s.cfg.Approvals.Decide(r.Context(), id, approval.Decision{Approve: true, Approver: name, Note: note, Signature: sig, Now: now})
	if err != nil {
		fail("%s: %v", id, decideErr(err))
		return
	}
	s.cfg.Logger.Info("console: approved", "approval", id, "tool", rec.Tool, "approver", name)
	s.setFlash(r, flash{OK: true, Text: fmt.Sprintf("Approved %s (%s) as %s. The agent's identical retry runs once, until %s.",
		rec.ID, rec.Tool, name, rec.ExpiresAt.Local().Format(time.DateTime))})
}

// deny records a person's denial, with their reason. Denying needs no key:
// it can only stop a call, as the CLI's deny.
func (s *Server) deny(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	name := strings.TrimSpace(r.PostForm.Get("approver"))
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	defer http.Redirect(w, r, "/approvals", http.StatusSeeOther)
	if reason == "" {
		s.setFlash(r, flash{Text: "Not denied: say why (the agent is told the reason)."})
		return
	}
	if name == "" {
		name = "console"
	}
	if !approval.ValidApproverName(name) {
		s.setFlash(r, flash{Text: fmt.Sprintf("Not denied: %q is not a name (letters, digits, '.', '_', '@', '-')", name)})
		return
	}
	rec, err := s.cfg.Approvals.Decide(r.Context(), id, approval.Decision{Approve: false, Approver: name, Note: reason, Now: s.cfg.Now()})
	if err != nil {
		s.setFlash(r, flash{Text: fmt.Sprintf("Not denied: %s: %v", id, decideErr(err))})
		return
	}
	s.cfg.Logger.Info("console: denied", "approval", id, "tool", rec.Tool, "by", name)
	s.setFlash(r, flash{OK: true, Text: fmt.Sprintf("Denied %s (%s). Identical calls are refused until %s.", rec.ID, rec.Tool, rec.ExpiresAt.Local().Format(time.DateTime))})
}

func decideErr(err error) string {
	switch {
	case errors.Is(err, approval.ErrNotFound):
		return "no such approval in this store"
	case errors.Is(err, approval.ErrExpired):
		return "it has expired; the agent must ask again"
	case errors.Is(err, approval.ErrNotPending):
		return "it was already decided"
	}
	return err.Error()
}

// prettyArgs indents a call's arguments and makes characters that could
// hide what the call does visible: bidirectional overrides, zero-width
// characters and other format or control characters become \u escapes.
func prettyArgs(args string) string {
	if args == "" {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, []byte(args), "", "  "); err != nil {
		buf.Reset()
		buf.WriteString(args)
	}
	return visible.Escape(buf.String())
}
