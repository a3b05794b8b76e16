package proxy

import (
	"context"
	"log/slog"

	"github.com/tollgate-mcp/tollgate/internal/transport"
)

// Handler is Tollgate's one transport.Handler: every front hands its
// sessions to it, and it relays each through a pump under its Gate. It is
// the only place a pump is built.
type Handler struct {
	gate   Gate
	logger *slog.Logger
}

var _ transport.Handler = (*Handler)(nil)

// NewHandler returns the Handler that judges every session by g. A nil
// logger discards.
func NewHandler(g Gate, logger *slog.Logger) *Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Handler{gate: g, logger: logger}
}

// Serve implements transport.Handler. It returns nil when the client ended
// the session, ErrUpstreamClosed when the upstream did, and ctx's error when
// ctx ended it. A nil s is a session nobody knows anything about.
func (h *Handler) Serve(ctx context.Context, s *transport.Session, client, upstream transport.Conn) error {
	if s == nil {
		s = &transport.Session{}
	}
	p := &pump{client: client, server: upstream, gate: h.gate, session: s, log: h.logger, slow: slowStore}
	return p.run(ctx)
}
