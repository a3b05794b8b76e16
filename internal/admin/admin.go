// Package admin is Tollgate's admin HTTP API: the approvals queue
// (list, show, approve, deny) over the same approval store the proxy and
// the CLI use, behind a bearer token. It binds loopback addresses only
// unless told otherwise.
//
// The token is a file in the state directory, so an agent running as the
// same user can read it: the token lets a caller list, show and deny, but an
// approval must also carry the signature of an approver the policy lists
// (approval.SignDecision), checked here before it is stored and again by
// the gate when it is used.
package admin

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/event"
	"github.com/tollgate-mcp/tollgate/internal/pins"
)

// TokenFile is the token's file name under the state directory.
const TokenFile = "admin.token"

// LoadOrCreateToken returns the admin token stored in dir/admin.token,
// creating the file (mode 0600, 256 random bits in hex) if it does not
// exist. A file readable by others is refused.
func LoadOrCreateToken(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	path := filepath.Join(dir, TokenFile)
	var b [32]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, werr := f.WriteString(tok + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			os.Remove(path)
			return "", fmt.Errorf("admin token: write %s: %w", path, werr)
		}
		return tok, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("admin token: create %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("admin token: %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	tok = strings.TrimSpace(string(data))
	if len(tok) < 32 {
		return "", fmt.Errorf("admin token: %s holds a token shorter than 32 characters", path)
	}
	return tok, nil
}

// Listen listens on addr (host:port). Unless allowRemote, the host must be
// a loopback address or "localhost".
func Listen(addr string, allowRemote bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen %q: %w", addr, err)
	}
	if !allowRemote {
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("admin listen %q: not a loopback address; pass --admin-allow-remote to serve other hosts", addr)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin listen: %w", err)
	}
	return l, nil
}

// Server serves the admin API. Set the fields, then use Handler or Serve.
type Server struct {
	// Store is the approval store (required).
	Store approval.Store
	// Token is the bearer token every request must carry (required).
	Token string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnDecision, when set, is told of each approval or denial made through
	// the API (event.ApprovalApproved or event.ApprovalDenied), for the
	// audit trail. It must not block.
	OnDecision func(d event.Decision, r approval.Record)
	// Approvers returns the approvers of the policy in force (name → public
	// key); approve checks the body's signature against it. Nil or empty
	// means nobody can approve through the API.
	Approvers func() map[string]ed25519.PublicKey
	Logger    *slog.Logger
	// Pins, when set, is the pin store (pinned tool definitions, pins.go);
	// OnPinApproved is told of each change approved through the API.
	Pins          *pins.Store
	OnPinApproved func(pins.Pin)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Handler returns the API's routes:
//
//	GET  /v1/approvals?status=pending[&limit=N]
//	GET  /v1/approvals/{id}
//	POST /v1/approvals/{id}/approve   {"approver": "...", "signature": "ed25519:...", "reason": "..."}
//	POST /v1/approvals/{id}/deny      {"approver": "...", "reason": "..."}
//	GET  /v1/pins, POST /v1/pins/approve, POST /v1/pins/reject (pins.go)
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/approvals", s.list)
	mux.HandleFunc("GET /v1/approvals/{id}", s.show)
	mux.HandleFunc("POST /v1/approvals/{id}/approve", func(w http.ResponseWriter, r *http.Request) { s.decide(w, r, true) })
	mux.HandleFunc("POST /v1/approvals/{id}/deny", func(w http.ResponseWriter, r *http.Request) { s.decide(w, r, false) })
	mux.HandleFunc("GET /v1/pins", s.pinsList)
	mux.HandleFunc("POST /v1/pins/approve", func(w http.ResponseWriter, r *http.Request) { s.pinsDecide(w, r, true) })
	mux.HandleFunc("POST /v1/pins/reject", func(w http.ResponseWriter, r *http.Request) { s.pinsDecide(w, r, false) })
	return s.auth(mux)
}

func (s *Server) auth(next http.Handler) http.Handler {
	want := []byte("Bearer " + s.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if s.Token == "" || subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="tollgate-admin"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token (see admin.token in the state directory)")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) list(w http.ResponseWriter, r *http.Request) {
	f := approval.Filter{Status: approval.Status(r.URL.Query().Get("status")), Now: s.now()}
	if f.Status != "" && !f.Status.Valid() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status must be pending, approved, denied, consumed or expired, not %q", f.Status))
		return
	}
	if l := r.URL.Query().Get("limit"); l != "" {
		if _, err := fmt.Sscanf(l, "%d", &f.Limit); err != nil || f.Limit < 1 || f.Limit > 1000 {
			writeError(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
			return
		}
	}
	recs, err := s.Store.List(r.Context(), f)
	if err != nil {
		s.storeError(w, err)
		return
	}
	if recs == nil {
		recs = []approval.Record{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": recs})
}

func (s *Server) show(w http.ResponseWriter, r *http.Request) {
	rec, err := s.Store.Get(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.storeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// decisionBody is the body of approve and deny.
type decisionBody struct {
	Approver  string `json:"approver"`
	Signature string `json:"signature"`
	Reason    string `json:"reason"`
}

// trustModel is where the docs explain who can approve and how.
const trustModel = "see docs/approvals.md#trust-model"

func (s *Server) decide(w http.ResponseWriter, r *http.Request, approve bool) {
	var body decisionBody
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "body must be a JSON object {\"approver\": \"...\", \"signature\": \"...\", \"reason\": \"...\"}: "+err.Error())
		return
	}
	body.Approver = strings.TrimSpace(body.Approver)
	if body.Approver == "" {
		writeError(w, http.StatusBadRequest, "approver is required: say who decides")
		return
	}
	d := approval.Decision{Approve: approve, Approver: body.Approver, Note: body.Reason, Now: s.now()}
	if approve {
		if !s.checkSignature(w, r, body) {
			return
		}
		d.Signature = body.Signature
	}
	rec, err := s.Store.Decide(r.Context(), r.PathValue("id"), d)
	if err != nil {
		s.storeError(w, err)
		return
	}
	if s.OnDecision != nil {
		ev := event.ApprovalDenied
		if approve {
			ev = event.ApprovalApproved
		}
		s.OnDecision(ev, rec)
	}
	writeJSON(w, http.StatusOK, rec)
}

// checkSignature answers and returns false unless body carries a valid
// signature of the approval by an approver the policy lists.
func (s *Server) checkSignature(w http.ResponseWriter, r *http.Request, body decisionBody) bool {
	var keys map[string]ed25519.PublicKey
	if s.Approvers != nil {
		keys = s.Approvers()
	}
	if len(keys) == 0 {
		writeError(w, http.StatusForbidden, "the policy lists no approvers (approvals.approvers), so approvals can only be given inline in the MCP client; "+
			"create a key with `tollgate approvals keygen --name NAME` and add it to the policy; "+trustModel)
		return false
	}
	if body.Signature == "" {
		writeError(w, http.StatusForbidden, "approving needs the approver's signature (\"signature\"), made with `tollgate approvals sign ID --approver NAME`; "+trustModel)
		return false
	}
	rec, err := s.Store.Get(r.Context(), r.PathValue("id"), s.now())
	if err != nil {
		s.storeError(w, err)
		return false
	}
	if err := approval.CheckShown(rec); err != nil {
		writeError(w, http.StatusForbidden, "approve "+rec.ID+": "+err.Error()+"; "+trustModel)
		return false
	}
	rec.Approver, rec.Signature = body.Approver, body.Signature
	if err := approval.CheckDecision(keys, rec.Fingerprint, rec); err != nil {
		writeError(w, http.StatusForbidden, "approve "+rec.ID+": "+err.Error()+"; "+trustModel)
		return false
	}
	return true
}

func (s *Server) storeError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, approval.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, approval.ErrNotPending), errors.Is(err, approval.ErrExpired):
		writeError(w, http.StatusConflict, err.Error())
	default:
		if s.Logger != nil {
			s.Logger.Error("admin API: approval store failed", "err", err)
		}
		writeError(w, http.StatusServiceUnavailable, "approval store unavailable")
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// Serve serves the API on l until ctx ends, then shuts down gracefully
// (waiting up to 5s for requests in flight). It closes l.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: time.Minute}
	if s.Logger != nil {
		srv.ErrorLog = slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("admin serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeoutCause(context.Background(), 5*time.Second, errors.New("admin API shutdown took too long"))
	defer cancel()
	err := srv.Shutdown(sctx)
	<-errc
	if err != nil {
		return fmt.Errorf("admin shutdown: %w", err)
	}
	return nil
}
