package auth

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Guard rejects requests that a web page could have made through DNS
// rebinding or cross-origin: a present Origin must be allowed (403
// otherwise, even when the Host is fine), and when the front is bound to a
// loopback address the Host must name loopback (403 otherwise).
type Guard struct {
	// Port is the port the front listens on; same-port loopback origins
	// (http://localhost:PORT, http://127.0.0.1:PORT, http://[::1]:PORT) are
	// allowed.
	Port string
	// Loopback says the front is bound to a loopback address; the Host
	// header must then be localhost, 127.0.0.1 or [::1] (any port), or the
	// host of an allowed origin.
	Loopback bool
	// Origins are further allowed origins (scheme://host[:port]), as given
	// by --allow-origin; "*" allows every origin.
	Origins []string
}

// Wrap returns h behind the guard.
func (g *Guard) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Loopback && !g.hostAllowed(r.Host) {
			forbid(w, "forbidden: the Host header does not name this server (DNS rebinding protection)")
			return
		}
		if o := r.Header.Values("Origin"); len(o) > 0 {
			if len(o) > 1 || !g.OriginAllowed(o[0]) {
				forbid(w, "forbidden: requests from this Origin are not allowed (use --allow-origin to allow it)")
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

func forbid(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusForbidden)
	b, _ := json.Marshal(msg)
	_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":` + string(b) + `}}`))
}

func isLoopbackName(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func splitHost(hostport string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	return strings.Trim(hostport, "[]"), ""
}

func (g *Guard) hostAllowed(hostport string) bool {
	host, _ := splitHost(hostport)
	if isLoopbackName(host) {
		return true
	}
	for _, o := range g.Origins {
		if o == "*" {
			continue // "*" opens origins, never the Host check
		}
		if u, err := url.Parse(o); err == nil && strings.EqualFold(u.Hostname(), host) {
			return true
		}
	}
	return false
}

// OriginAllowed reports whether a request with this Origin header may pass.
func (g *Guard) OriginAllowed(origin string) bool {
	for _, o := range g.Origins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" {
		return false
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return isLoopbackName(u.Hostname()) && port == g.Port
}
