// Package console is Tollgate's local web console: a person watches the
// decisions the proxies make (tailing the audit trail), decides held calls
// and changed tool definitions (signing approvals with their approver key),
// sets each tool's rule in the policy file, and sees the scan report and
// what each counter has used. It serves plain server-rendered HTML on
// loopback only, to a browser that presented the one-time token the command
// printed.
//
// It works on the same state as the proxies, through the same operations as
// the CLI: the approval store's Get, List and Decide, approval.DeriveKey and
// approval.SignDecision, the pin store's List, Approve and Reject with
// pins.Sign, policy.Load before any policy file is written. It never talks
// to a proxy: the proxies see its decisions in the store and its policy
// edits through their live reload.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
	"github.com/tollgate-mcp/tollgate/internal/pins"
	"github.com/tollgate-mcp/tollgate/internal/scan"
	"github.com/tollgate-mcp/tollgate/internal/state"
)

// UsageFunc lists what each counter has used in its window at now.
type UsageFunc func(ctx context.Context, now time.Time) ([]state.CounterUsage, error)

// Config is what the console works on. Only Approvals is required.
type Config struct {
	// Approvals is the store the proxies keep held calls in.
	Approvals approval.Store
	// Usage lists counters; nil shows UsageNote instead.
	Usage     UsageFunc
	UsageNote string
	// AuditDir is the audit directory the proxies write ("" for none).
	AuditDir string
	// Policies are the policy files a person may edit, and whose
	// approvals.approvers say whose key counts.
	Policies []string
	// Pins is the store of pinned tool definitions the proxies share, or
	// nil (the pins page then says so).
	Pins *pins.Store
	// Scan is a scan report (tollgate scan --format json), or nil.
	Scan *scan.Report
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Logger receives operational messages; never a passphrase or a token.
	Logger *slog.Logger
	// Poll is how often the audit trail is read for new lines (default
	// 300ms).
	Poll time.Duration
}

// Server is one console: its token, its sessions and its pages.
type Server struct {
	cfg   Config
	pages map[string]*template.Template
	live  *hub

	mu       sync.Mutex
	token    string // "" once used
	sessions map[string]*session
	port     string // the listener's port, for the Host and Origin checks

	// signing serialises key derivations (each costs ~0.5 s of CPU): a
	// guesser gets one at a time.
	signing sync.Mutex
	// editing serialises policy edits.
	editing sync.Mutex
}

type session struct {
	csrf  string
	flash *flash
}

// flash is a one-shot message shown on the next page.
type flash struct {
	OK       bool
	Text     string
	Problems []string
}

// New makes a console. Serve starts it.
func New(cfg Config) (*Server, error) {
	if cfg.Approvals == nil {
		return nil, errors.New("new console: no approval store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 300 * time.Millisecond
	}
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("new console: %w", err)
	}
	return &Server{cfg: cfg, pages: pages, live: newHub(cfg.AuditDir, 500),
		token: randomHex(32), sessions: map[string]*session{}}, nil
}

// Token is the one-time token that opens the console; it is spent by the
// first request that presents it.
func (s *Server) Token() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.token
}

// Loopback reports whether addr (host:port) names a loopback address.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve serves the console on ln, which must listen on a loopback address,
// until ctx ends; it returns after everything it started has stopped.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if !Loopback(ln.Addr().String()) {
		return fmt.Errorf("serve console: %s is not a loopback address", ln.Addr())
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	s.mu.Lock()
	s.port = port
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { s.live.run(ctx, s.cfg.Poll, s.cfg.Logger) })
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	cancel() // ends the event streams, which watch ctx
	shutCtx, stop := context.WithTimeoutCause(context.Background(), 5*time.Second, errors.New("console shutdown took too long"))
	defer stop()
	_ = srv.Shutdown(shutCtx)
	if err == nil {
		err = <-errc
	}
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// cookieName includes the port: cookies are per host, not per port, and
// two consoles on 127.0.0.1 must not overwrite each other's session.
func (s *Server) cookieName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "tollgate_console_" + s.port
}

// Handler is the console's HTTP handler, every route behind the checks.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/decisions", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /decisions", s.decisionsPage)
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("GET /approvals", s.approvalsPage)
	mux.HandleFunc("POST /approvals/{id}/approve", s.approve)
	mux.HandleFunc("POST /approvals/{id}/deny", s.deny)
	mux.HandleFunc("GET /pins", s.pinsPage)
	mux.HandleFunc("POST /pins/approve", s.approvePin)
	mux.HandleFunc("POST /pins/reject", s.rejectPin)
	mux.HandleFunc("GET /rules", s.rulesPage)
	mux.HandleFunc("POST /rules", s.setRule)
	mux.HandleFunc("GET /scan", s.scanPage)
	mux.HandleFunc("GET /counters", s.countersPage)
	return s.guard(mux)
}

type ctxKey struct{}

// guard applies the security model to every request: the Host must be this
// console's loopback origin (against DNS rebinding); the one-time token is
// exchanged for a session cookie; without a session the answer is 401;
// a POST must come from this origin and carry the session's CSRF token.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		// same-origin, not no-referrer: with no-referrer a browser sends
		// "Origin: null" on form posts, which the Origin check must refuse.
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if !s.ownHost(r.Host) {
			http.Error(w, "this console answers only at its own loopback address", http.StatusMisdirectedRequest)
			return
		}
		sess := s.sessionOf(r)
		if tok := r.URL.Query().Get("token"); tok != "" && r.Method == http.MethodGet {
			if sess == nil {
				if !s.spendToken(tok) {
					s.unauthorized(w, "This link was already used or is not this console's. Start tollgate console again for a new one.")
					return
				}
				id := randomHex(32)
				s.mu.Lock()
				s.sessions[id] = &session{csrf: randomHex(32)}
				s.mu.Unlock()
				http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			}
			q := r.URL.Query()
			q.Del("token")
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return
		}
		if sess == nil {
			if r.URL.Path == "/static/style.css" {
				next.ServeHTTP(w, r) // the 401 page is styled too
				return
			}
			s.unauthorized(w, "Open the console with the link tollgate console printed (it holds a one-time token).")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if origin := r.Header.Get("Origin"); origin != "http://"+r.Host {
				http.Error(w, "cross-origin request refused", http.StatusForbidden)
				return
			}
			if err := r.ParseForm(); err != nil || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(sess.csrf)) != 1 {
				http.Error(w, "missing or wrong CSRF token; reload the page", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess)))
	})
}

func (s *Server) ownHost(host string) bool {
	s.mu.Lock()
	port := s.port
	s.mu.Unlock()
	h, p, err := net.SplitHostPort(host)
	if err != nil || p != port {
		return false
	}
	return h == "127.0.0.1" || h == "localhost" || h == "::1"
}

func (s *Server) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[c.Value]
}

// spendToken reports whether tok is the unused token, and spends it.
func (s *Server) spendToken(tok string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) != 1 {
		return false
	}
	s.token = ""
	return true
}

func (s *Server) unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_ = s.pages["denied"].ExecuteTemplate(w, "layout", map[string]any{"Title": "Not signed in", "Message": msg})
}

func sessionFrom(r *http.Request) *session {
	sess, _ := r.Context().Value(ctxKey{}).(*session)
	return sess
}

// setFlash leaves a message for the session's next page.
func (s *Server) setFlash(r *http.Request, f flash) {
	if sess := sessionFrom(r); sess != nil {
		s.mu.Lock()
		sess.flash = &f
		s.mu.Unlock()
	}
}

func (s *Server) takeFlash(r *http.Request) *flash {
	sess := sessionFrom(r)
	if sess == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := sess.flash
	sess.flash = nil
	return f
}

// render executes page with data, adding what every page shows.
func (s *Server) render(w http.ResponseWriter, r *http.Request, page string, data map[string]any) {
	data["Page"] = page
	data["Flash"] = s.takeFlash(r)
	if sess := sessionFrom(r); sess != nil {
		data["CSRF"] = sess.csrf
	}
	data["HasScan"] = s.cfg.Scan != nil
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.pages[page].ExecuteTemplate(w, "layout", data); err != nil {
		s.cfg.Logger.Error("console: render page", "page", page, "err", err)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
