package echo

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// maxBody bounds one HTTP request body.
const maxBody = 64 << 20

// Handler serves streamable HTTP on every path: a POST carries one message
// and is answered with application/json (or 202 Accepted for a notification
// or a response); initialize hands out an Mcp-Session-Id, which later
// requests may send and which is not checked. GET (the server-sent event
// stream) is answered 405, which the protocol allows; DELETE ends nothing.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
	case http.MethodDelete:
		w.WriteHeader(http.StatusOK)
		return
	default:
		w.Header().Set("Allow", "POST, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if jsonrpc.IsBatch(body) {
		http.Error(w, "batches are not supported", http.StatusBadRequest)
		return
	}
	out := s.Handle(body)
	if out == nil {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if m, err := jsonrpc.Parse(body, false); err == nil && m.Method == "initialize" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		h.Set("Mcp-Session-Id", hex.EncodeToString(b[:]))
	}
	_, _ = w.Write(out)
}
