package admin

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/inspect"
	"github.com/tollgate-mcp/tollgate/internal/pins"
)

// Pinned tool definitions (docs/pins.md):
//
//	GET  /v1/pins[?server=S][&all=1]   pending changes (every pin with all=1), with their poisoning flags
//	POST /v1/pins/approve  {"server", "kind", "name", "hash", "approver", "signature", "reason"}
//	POST /v1/pins/reject   {"server", "kind", "name", "hash", "approver", "reason"}
//
// hash is the pending definition's: a decision is of the exact definition
// the caller looked at. As for approvals, the token is within an agent's
// reach, so approve needs the signature of an approver the policy lists
// (pins.Sign over pins.Statement); reject needs only the token.

// pinView is a pin as the API shows it.
type pinView struct {
	pins.Pin
	Status string               `json:"status"`
	Flags  []inspect.PoisonFlag `json:"flags,omitempty"`
}

func (s *Server) pinsList(w http.ResponseWriter, r *http.Request) {
	if s.Pins == nil {
		writeError(w, http.StatusNotFound, "pins are off in this proxy (pins: off)")
		return
	}
	all := r.URL.Query().Get("all") == "1"
	ps, err := s.Pins.List(r.Context(), r.URL.Query().Get("server"))
	if err != nil {
		s.pinsError(w, err)
		return
	}
	out := []pinView{}
	for _, p := range ps {
		if p.Pending == nil && !all {
			continue
		}
		v := pinView{Pin: p, Status: string(p.Status())}
		if p.Pending != nil {
			v.Flags = inspect.Poisoning(p.Pending.Definition)
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"pins": out})
}

// pinBody is the body of approve and reject.
type pinBody struct {
	Server    string `json:"server"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Hash      string `json:"hash"`
	Approver  string `json:"approver"`
	Signature string `json:"signature"`
	Reason    string `json:"reason"`
}

const pinsTrustModel = "see docs/pins.md#trust-model"

func (s *Server) pinsDecide(w http.ResponseWriter, r *http.Request, approve bool) {
	if s.Pins == nil {
		writeError(w, http.StatusNotFound, "pins are off in this proxy (pins: off)")
		return
	}
	var b pinBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "body must be a JSON object {\"server\", \"kind\", \"name\", \"hash\", \"approver\", \"signature\", \"reason\"}: "+err.Error())
		return
	}
	if b.Kind == "" {
		b.Kind = string(pins.Tool)
	}
	kind, err := pins.ParseKind(b.Kind)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	b.Approver = strings.TrimSpace(b.Approver)
	switch {
	case b.Server == "" || b.Name == "" || b.Hash == "":
		writeError(w, http.StatusBadRequest, "server, name and hash (the pending definition's, from GET /v1/pins) are required")
		return
	case b.Approver == "":
		writeError(w, http.StatusBadRequest, "approver is required: say who decides")
		return
	}
	var p pins.Pin
	if approve {
		var keys = s.approvers()
		if len(keys) == 0 {
			writeError(w, http.StatusForbidden, "the policy lists no approvers (approvals.approvers), so pin changes can be approved only with tollgate pins approve at the operator's terminal; "+pinsTrustModel)
			return
		}
		claim := pins.Pin{Server: b.Server, Kind: kind, Name: b.Name, Hash: b.Hash, Approver: b.Approver, Signature: b.Signature}
		if err := pins.Verify(keys, &claim); err != nil {
			writeError(w, http.StatusForbidden, "approve "+b.Name+": "+err.Error()+"; "+pinsTrustModel)
			return
		}
		p, err = s.Pins.Approve(r.Context(), b.Server, kind, b.Name, b.Hash, pins.Approval{Approver: b.Approver, Signature: b.Signature, Note: b.Reason, Now: s.now()})
	} else {
		p, err = s.Pins.Reject(r.Context(), b.Server, kind, b.Name, b.Hash, b.Approver, s.now())
	}
	if err != nil {
		s.pinsError(w, err)
		return
	}
	if approve && s.OnPinApproved != nil {
		s.OnPinApproved(p)
	}
	writeJSON(w, http.StatusOK, pinView{Pin: p, Status: string(p.Status())})
}

func (s *Server) approvers() map[string]ed25519.PublicKey {
	if s.Approvers == nil {
		return nil
	}
	return s.Approvers()
}

func (s *Server) pinsError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, pins.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, pins.ErrNotPending), errors.Is(err, pins.ErrStale):
		writeError(w, http.StatusConflict, err.Error())
	default:
		if s.Logger != nil {
			s.Logger.Error("admin API: pin store failed", "err", err)
		}
		writeError(w, http.StatusServiceUnavailable, "pin store unavailable")
	}
}
