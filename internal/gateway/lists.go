package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
)

// initialize answers the client's initialize once every server is up or
// failed, or StartupTimeout has passed: the gateway's own name, the
// client's revision, and the union of the servers' capabilities.
func (s *session) initialize(id, params []byte) {
	if !s.awaitStartup() {
		return
	}
	if err := s.checkBare(); err != nil {
		s.log.Error("gateway: start-up failed", "err", err)
		s.toClient(jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError, err.Error(), nil))
		s.fail(err)
		return
	}
	version, _ := jsonrpc.Unquote(mcp.ParamsValue(params, "protocolVersion"))
	if !mcp.KnownVersion(version) || version == mcp.Version20260728 {
		version = mcp.Version20251125
	}
	var b strings.Builder
	b.WriteString(`{"protocolVersion":"` + version + `","capabilities":`)
	s.capabilities(&b)
	b.WriteString(`,"serverInfo":` + serverInfo + `}`)
	s.mu.Lock()
	s.version = version
	s.answered.Store(true)
	s.mu.Unlock()
	s.toClient(jsonrpc.AppendResult(nil, id, []byte(b.String())))
}

// serverInfo is the gateway's Implementation, in initialize and
// server/discover results.
const serverInfo = `{"name":"tollgate-gateway","version":"1"}`

// capabilities writes the union of the servers' capabilities, as the
// gateway offers them: tools always, with list changes (servers come and
// go), and prompts, resources, logging and completions when a server that
// is up offers them.
func (s *session) capabilities(b *strings.Builder) {
	var prompts, resources, subscribe, logging, completions bool
	for _, l := range s.links {
		caps := mcp.ParamsValue(l.initResult(), "capabilities")
		if caps == nil {
			continue
		}
		prompts = prompts || mcp.ParamsValue(caps, "prompts") != nil
		if r := mcp.ParamsValue(caps, "resources"); r != nil {
			resources = true
			subscribe = subscribe || string(mcp.ParamsValue(r, "subscribe")) == "true"
		}
		logging = logging || mcp.ParamsValue(caps, "logging") != nil
		completions = completions || mcp.ParamsValue(caps, "completions") != nil
	}
	b.WriteString(`{"tools":{"listChanged":true}`)
	if prompts {
		b.WriteString(`,"prompts":{"listChanged":true}`)
	}
	if resources {
		b.WriteString(`,"resources":{"listChanged":true`)
		if subscribe {
			b.WriteString(`,"subscribe":true`)
		}
		b.WriteString(`}`)
	}
	if logging {
		b.WriteString(`,"logging":{}`)
	}
	if completions {
		b.WriteString(`,"completions":{}`)
	}
	b.WriteString(`}`)
}

// discover answers server/discover (2026-07-28) once every server is up
// or failed, or StartupTimeout has passed: every revision the gateway
// speaks, the union of the servers' capabilities, and the gateway's name.
// The result is private and not to be cached (ttlMs 0): it changes as
// servers come and go.
func (s *session) discover(id []byte) {
	if !s.awaitStartup() {
		return
	}
	if err := s.checkBare(); err != nil {
		// Refused, but the session goes on: a client that falls back to
		// initialize is refused there, and the session ends then.
		s.log.Error("gateway: start-up failed", "err", err)
		s.toClient(jsonrpc.AppendError(nil, id, jsonrpc.CodeInternalError, err.Error(), nil))
		return
	}
	var b strings.Builder
	b.WriteString(`{"resultType":"complete","supportedVersions":[`)
	for i := len(mcp.Versions) - 1; i >= 0; i-- {
		b.WriteString(`"` + mcp.Versions[i] + `"`)
		if i > 0 {
			b.WriteByte(',')
		}
	}
	b.WriteString(`],"capabilities":`)
	s.capabilities(&b)
	b.WriteString(`,"ttlMs":0,"cacheScope":"private","_meta":{"io.modelcontextprotocol/serverInfo":` + serverInfo + `}}`)
	s.toClient(jsonrpc.AppendResult(nil, id, []byte(b.String())))
}

// ErrCollision is the start-up failure of a session whose unprefixed server
// lists a tool name another server's prefix starts.
var ErrCollision = errors.New("tool names collide")

// checkBare reads the unprefixed server's tool list (when it is up) and
// fails start-up when one of its names is in another server's namespace:
// that name would read as two servers' names.
func (s *session) checkBare() error {
	for _, l := range s.links {
		if !l.srv.Bare || l.current() == nil {
			continue
		}
		s.loadTools(l)
		l.mu.Lock()
		var names []string
		for n := range l.known {
			names = append(names, n)
		}
		l.mu.Unlock()
		slices.Sort(names)
		for _, n := range names {
			for _, o := range s.g.servers {
				if !o.Bare && strings.HasPrefix(n, o.Prefix+s.g.opts.Separator) {
					return fmt.Errorf("start gateway: %w: server %q (unprefixed) has a tool %q, a name of server %q (prefix %q): give %q a prefix or hide the tool",
						ErrCollision, l.srv.Name, n, o.Name, o.Prefix+s.g.opts.Separator, l.srv.Name)
				}
			}
		}
	}
	return nil
}

// awaitStartup waits until every server (or every one named) is up or
// failed once, or StartupTimeout has passed; false when the session ended
// meanwhile.
func (s *session) awaitStartup(only ...*link) bool {
	if only == nil {
		only = s.links
	}
	deadline := s.g.opts.After(s.g.opts.StartupTimeout)
	for _, l := range only {
		select {
		case <-l.ready:
		case <-deadline:
			return true
		case <-s.ctx.Done():
			return false
		}
	}
	return true
}

// listKinds maps a list method to the array its result holds, and whether
// its items are named (and so namespaced).
var listKinds = map[string]struct {
	array string
	named bool
}{
	mcp.MethodToolsList:        {"tools", true},
	"prompts/list":             {"prompts", true},
	"resources/list":           {"resources", false},
	"resources/templates/list": {"resourceTemplates", false},
}

// list answers a list request with every server's items merged (names
// namespaced) and a cursor holding each server's own cursor for the next
// page.
func (s *session) list(frame []byte) {
	m, err := jsonrpc.Parse(frame, false)
	if err != nil {
		return
	}
	kind := listKinds[m.Method]
	var want map[string]string
	if raw := mcp.ParamsValue(m.Params, "cursor"); raw != nil {
		cur, ok := jsonrpc.Unquote(raw)
		if ok {
			want, err = s.g.openCursor(m.Method, cur)
		}
		if !ok || err != nil {
			s.toClient(jsonrpc.AppendError(nil, m.ID, jsonrpc.CodeInvalidParams, "invalid params: invalid cursor", nil))
			return
		}
	}
	type page struct {
		result []byte
		err    error
	}
	pages := make([]page, len(s.links))
	var wg sync.WaitGroup
	for i, l := range s.links {
		conn := l.current()
		if conn == nil {
			continue
		}
		params := []byte("{}")
		if want != nil {
			c, ok := want[l.srv.Name]
			if !ok {
				continue
			}
			params = append(jsonrpc.AppendString([]byte(`{"cursor":`), c), '}')
		}
		if !l.offers(m.Method) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := s.own(l, conn, m.Method, params)
			pages[i] = page{res, err}
		}()
	}
	wg.Wait()
	out := []byte(`{"` + kind.array + `":[`)
	first := true
	next := map[string]string{}
	for i, l := range s.links {
		p := pages[i]
		if p.err != nil {
			s.log.Warn("gateway: a server's list is left out", "server", l.srv.Name, "method", m.Method, "err", p.err)
			continue
		}
		if p.result == nil {
			continue
		}
		_, err := jsonrpc.ArrayMember(p.result, kind.array, func(item []byte) error {
			if kind.named {
				raw := mcp.ParamsValue(item, "name")
				name, ok := jsonrpc.Unquote(raw)
				if !ok {
					return nil // a nameless item cannot be routed back
				}
				if l.srv.Bare && s.g.shadows(name) {
					s.log.Error("gateway: a name of the unprefixed server collides with another server's names; it is left out", "server", l.srv.Name, "method", m.Method, "name", name)
					return nil
				}
				item = jsonrpc.ApplyEdits(item, jsonrpc.Edit{Old: raw, Repl: jsonrpc.AppendString(nil, s.g.namespace(l.srv)+name)})
			} else {
				s.noteResource(l, m.Method, item)
			}
			if !first {
				out = append(out, ',')
			}
			first = false
			out = append(out, item...)
			return nil
		})
		if err != nil {
			s.log.Warn("gateway: a server's list could not be read", "server", l.srv.Name, "err", err)
		}
		if c, ok := jsonrpc.Unquote(mcp.ParamsValue(p.result, "nextCursor")); ok && c != "" {
			next[l.srv.Name] = c
		}
	}
	out = append(out, ']')
	if len(next) > 0 {
		out = append(out, `,"nextCursor":`...)
		out = jsonrpc.AppendString(out, s.g.sealCursor(m.Method, next))
	}
	if mcp.Stateless(mcp.MetaString(m.Params, mcp.MetaProtocolVersion)) {
		// A 2026-07-28 result says what it is and how long it may be
		// kept: a merged list is the caller's alone, and changes as
		// servers come and go.
		out = append(out, `,"resultType":"complete","ttlMs":0,"cacheScope":"private"`...)
	}
	out = append(out, '}')
	s.toClient(jsonrpc.AppendResult(nil, m.ID, out))
}

// offers reports whether the server declared the capability a list method
// needs.
func (l *link) offers(method string) bool {
	caps := mcp.ParamsValue(l.initResult(), "capabilities")
	switch method {
	case "prompts/list":
		return mcp.ParamsValue(caps, "prompts") != nil
	case "resources/list", "resources/templates/list":
		return mcp.ParamsValue(caps, "resources") != nil
	}
	return true
}

// noteResource remembers which server listed a resource URI (or template):
// resources/read is routed by it. A URI two servers list belongs to
// neither: it is refused rather than sent to either.
func (s *session) noteResource(l *link, method string, item []byte) {
	key := "uri"
	if method == "resources/templates/list" {
		key = "uriTemplate"
	}
	uri, ok := jsonrpc.Unquote(mcp.ParamsValue(item, key))
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if key == "uriTemplate" {
		for _, t := range s.templates {
			if t.link == l && t.raw == uri {
				return
			}
		}
		s.templates = append(s.templates, newTemplate(l, uri))
		return
	}
	if prev, seen := s.uris[uri]; seen && prev != l {
		if prev != nil {
			s.log.Warn("gateway: two servers list the same resource; reads of it are refused", "uri", uri)
		}
		s.uris[uri] = nil
		return
	}
	s.uris[uri] = l
}

// uriTemplate matches URIs against a server's resource template (RFC 6570,
// read loosely: each {expression} matches any run of characters).
type uriTemplate struct {
	link  *link
	raw   string
	parts []string // the literal text between expressions
}

func newTemplate(l *link, raw string) uriTemplate {
	t := uriTemplate{link: l, raw: raw}
	rest := raw
	for {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest, '}')
		if i < 0 || j < i {
			t.parts = append(t.parts, rest)
			return t
		}
		t.parts = append(t.parts, rest[:i])
		rest = rest[j+1:]
	}
}

func (t uriTemplate) match(uri string) bool {
	if !strings.HasPrefix(uri, t.parts[0]) {
		return false
	}
	uri = uri[len(t.parts[0]):]
	if len(t.parts) == 1 {
		return uri == ""
	}
	// Leftmost matches of the middle parts, then the last as a suffix:
	// glob matching with every expression a '*'.
	for _, p := range t.parts[1 : len(t.parts)-1] {
		k := strings.Index(uri, p)
		if k < 0 {
			return false
		}
		uri = uri[k+len(p):]
	}
	return strings.HasSuffix(uri, t.parts[len(t.parts)-1])
}

// cursor is what a gateway list cursor holds.
type cursor struct {
	Method  string            `json:"m"`
	Servers map[string]string `json:"s"`
	Time    int64             `json:"t"`
}

var errCursor = errors.New("invalid cursor")

// sealCursor encodes the servers' cursors for the next page, signed with
// the gateway's key so that a client can neither read nor forge one (a
// forged cursor could point a list at a server it was not asked of).
func (g *Gateway) sealCursor(method string, servers map[string]string) string {
	payload, _ := json.Marshal(cursor{Method: method, Servers: servers, Time: time.Now().Unix()})
	mac := hmac.New(sha256.New, g.key)
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// openCursor checks and decodes a cursor sealCursor made for method.
func (g *Gateway) openCursor(method, s string) (map[string]string, error) {
	p, sig, ok := strings.Cut(s, ".")
	if !ok {
		return nil, errCursor
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	got, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil {
		return nil, errCursor
	}
	mac := hmac.New(sha256.New, g.key)
	mac.Write(payload)
	if !hmac.Equal(mac.Sum(nil), got) {
		return nil, errCursor
	}
	var c cursor
	if err := json.Unmarshal(payload, &c); err != nil || c.Method != method {
		return nil, errCursor
	}
	for name := range c.Servers {
		known := false
		for _, srv := range g.servers {
			known = known || srv.Name == name
		}
		if !known {
			return nil, errCursor
		}
	}
	return c.Servers, nil
}
