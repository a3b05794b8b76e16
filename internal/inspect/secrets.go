package inspect

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
)

// token checks a word of 15 or more bytes against the documented formats
// of keys and tokens that carry a recognisable prefix. Each format must
// fill the whole word, so a prefix in the middle of a hash or of base64
// does not count.
func (s *scanner) token(a, b int) {
	t := s.t
	w := t[a:b]
	n := len(w)
	switch w[0] {
	case 'A':
		if n == 20 && isAWSKeyIDPrefix(w[:4]) && allOf(w[4:], func(c byte) bool { return isUpper(c) || isDigit(c) }) {
			s.add(dAWSAccessKey, a, b)
		}
		if n == 39 && hasPrefix(w, "AIza") && allOf(w[4:], isB64URL) {
			s.add(dGoogleAPIKey, a, b)
		}
	case 'g':
		switch {
		case n >= 40 && len(w) > 4 && w[1] == 'h' && w[3] == '_' && isGitHubKind(w[2]) && allOf(w[4:], isAlnum):
			s.add(dGitHubToken, a, b)
		case n >= 70 && hasPrefix(w, "github_pat_") && allOf(w[11:], func(c byte) bool { return isAlnum(c) || c == '_' }):
			s.add(dGitHubToken, a, b)
		case n >= 26 && hasPrefix(w, "glpat-") && mixed(w[6:]):
			s.add(dGitLabToken, a, b)
		}
	case 'x':
		if hasPrefix(w, "xox") && w[4] == '-' && bytesContains("baprs", w[3]) && mixed(w[5:]) {
			s.add(dSlackToken, a, b)
		}
	case 's', 'r':
		switch {
		case n >= 32 && (hasPrefix(w, "sk_live_") || hasPrefix(w, "rk_live_") || hasPrefix(w, "sk_test_") || hasPrefix(w, "rk_test_")) && allOf(w[8:], isAlnum):
			s.add(dStripeKey, a, b)
		case n >= 40 && hasPrefix(w, "sk-ant-") && mixed(w[7:]):
			s.add(dAnthropicKey, a, b)
		case n >= 40 && hasPrefix(w, "sk-") && mixed(w[3:]):
			s.add(dOpenAIKey, a, b)
		}
	case 'S':
		if n == 34 && w[1] == 'K' && allOf(w[2:], isHexDigit) && mixed(w[2:]) {
			s.add(dTwilioKey, a, b)
		}
	case 'n':
		if n == 40 && hasPrefix(w, "npm_") && allOf(w[4:], isAlnum) && mixed(w[4:]) {
			s.add(dNPMToken, a, b)
		}
	case 'p':
		if n >= 60 && hasPrefix(w, "pypi-AgEIcHlwaS5vcmc") {
			s.add(dPyPIToken, a, b)
		}
	}
}

func isAWSKeyIDPrefix(p []byte) bool {
	switch string(p) {
	case "AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA":
		return true
	}
	return false
}

func isGitHubKind(c byte) bool { return c == 'p' || c == 'o' || c == 'u' || c == 's' || c == 'r' }

func bytesContains(set string, c byte) bool {
	for i := range len(set) {
		if set[i] == c {
			return true
		}
	}
	return false
}

func allOf(w []byte, ok func(byte) bool) bool {
	for _, c := range w {
		if !ok(c) {
			return false
		}
	}
	return true
}

// mixed reports whether w has both a letter and a digit, as generated keys
// do and words joined by hyphens do not.
func mixed(w []byte) bool {
	var l, d bool
	for _, c := range w {
		l = l || isAlpha(c)
		d = d || isDigit(c)
	}
	return l && d
}

// privateKey matches a PEM private key from "-----BEGIN " at a to its END
// line, or to the end of the text when it was cut.
func (s *scanner) privateKey(a int) {
	t := s.t
	rest := t[a+len("-----BEGIN "):]
	end := bytes.Index(rest, []byte("-----"))
	if end < 0 || end > 40 || !bytes.Contains(rest[:end], []byte("PRIVATE KEY")) {
		return
	}
	body := a + len("-----BEGIN ") + end + 5
	stop := len(t)
	if e := bytes.Index(t[body:], []byte("-----END ")); e >= 0 {
		stop = body + e + len("-----END ")
		if f := bytes.Index(t[stop:], []byte("-----")); f >= 0 && f <= 40 {
			stop += f + 5
		}
	}
	s.add(dPrivateKey, a, stop)
}

// jwt matches header.payload.signature where the header decodes to a JSON
// object with "alg".
func (s *scanner) jwt(a, b int) {
	t := s.t
	if !allOf(t[a:b], isB64URL) || b-a > 1024 {
		return
	}
	p := wordEnd(t, b+1, isB64URL)
	if p-(b+1) < 2 || p >= len(t) || t[p] != '.' {
		return
	}
	e := wordEnd(t, p+1, isB64URL)
	if e < len(t) && (t[e] == '.' || isB64Std(t[e])) {
		return
	}
	var buf [768]byte
	n, err := base64.RawURLEncoding.Decode(buf[:], t[a:b])
	if err != nil {
		return
	}
	h := buf[:n]
	if !json.Valid(h) || !bytes.Contains(h, []byte(`"alg"`)) {
		return
	}
	s.add(dJWT, a, e)
}

// slackWebhook matches hooks.slack.com/services/T…/B…/… from a.
func (s *scanner) slackWebhook(a int) {
	t := s.t
	i := a + len("hooks.slack.com/services/")
	segs := 0
	for segs < 3 {
		j := wordEnd(t, i, isAlnum)
		if j-i < 8 {
			return
		}
		segs++
		i = j
		if segs < 3 {
			if i >= len(t) || t[i] != '/' {
				return
			}
			i++
		}
	}
	s.add(dSlackWebhook, a, i)
}

// urlPassword matches the password of scheme://user:password@host, with
// ':' of "://" at i.
func (s *scanner) urlPassword(i int) {
	t := s.t
	if i == 0 || !isAlnum(t[i-1]) {
		return
	}
	u := i + 3
	end := u
	at, colon := -1, -1
	for end < len(t) && end-u < 512 {
		c := t[end]
		if c == '/' || c == '?' || c == '#' || isSpace(c) || c == '"' || c == '\'' || c == '<' || c == '>' {
			break
		}
		if c == '@' {
			at = end // the last '@' before the host ends the user info
		}
		if c == ':' && colon < 0 && at < 0 {
			colon = end
		}
		end++
	}
	if at < 0 || colon < 0 || colon > at || at-colon < 2 {
		return
	}
	pw := t[colon+1 : at]
	if placeholder(pw) {
		return
	}
	s.add(dURLPassword, colon+1, at)
}

// Key names whose value is a credential.
const (
	kwNone = iota
	kwPassword
	kwSecret
	kwAWSSecret
	kwAzure
	kwAuthorization
	kwBSN
	kwTurn // "Human:" / "Assistant:" starting a fake turn
)

// keywordKind classifies a key name (already lower case, '-' as '_').
func keywordKind(k []byte) int {
	n := len(k)
	if n < 3 || n > 48 {
		return kwNone
	}
	has := func(s string) bool { return bytes.HasSuffix(k, []byte(s)) }
	switch k[n-1] {
	case 'd', 'e':
		if has("password") || has("passwd") || has("passphrase") {
			return kwPassword
		}
	case 'y':
		switch {
		case has("secret_access_key") || has("secretaccesskey") || has("aws_secret_key"):
			return kwAWSSecret
		case string(k) == "accountkey" || string(k) == "account_key":
			return kwAzure
		case has("api_key") || has("apikey") || has("access_key") || has("secret_key") || has("private_key") ||
			has("auth_key") || has("signing_key") || has("master_key") || has("encryption_key") || has("client_key"):
			return kwSecret
		}
	case 't':
		if has("secret") {
			return kwSecret
		}
	case 'n':
		// Tokens that correlate or page are not credentials: MCP's
		// progressToken among them (a UUID a client names a request's
		// progress by).
		if has("token") && !has("page_token") && !has("pagetoken") && !has("next_token") &&
			!has("continuation_token") && !has("sync_token") && !has("csrf_token") && !has("cancel_token") &&
			!has("progresstoken") && !has("progress_token") {
			return kwSecret
		}
		if string(k) == "authorization" {
			return kwAuthorization
		}
		if has("human") && n == 5 {
			return kwTurn
		}
	case 'l', 's':
		if has("credential") || has("credentials") {
			return kwSecret
		}
	case 'r':
		if has("bsn") || has("burgerservicenummer") || has("sofinummer") {
			return kwBSN
		}
	}
	if string(k) == "bsn" {
		return kwBSN
	}
	if string(k) == "assistant" {
		return kwTurn
	}
	return kwNone
}

// normKey lowers k into buf with '-' as '_'; nil when too long.
func normKey(buf []byte, k []byte) []byte {
	if len(k) > len(buf) {
		return nil
	}
	for i, c := range k {
		if c == '-' {
			c = '_'
		}
		buf[i] = lower(c)
	}
	return buf[:len(k)]
}

// keyword handles a word followed by one of = : " ': a key name beside its
// value in text ("password=…", `"api_key": "…"`, "AccountKey=…").
func (s *scanner) keyword(a, b int) {
	t := s.t
	var buf [48]byte
	k := normKey(buf[:], t[a:b])
	kind := keywordKind(k)
	if kind == kwNone || kind == kwBSN {
		return
	}
	if kind == kwTurn {
		if t[b] == ':' && a >= 2 && t[a-1] == '\n' && t[a-2] == '\n' {
			s.add(dFakeDelimiter, a, b+1)
		}
		return
	}
	i := b
	if t[i] == '"' || t[i] == '\'' {
		i++
	}
	for i < len(t) && t[i] == ' ' {
		i++
	}
	for i < len(t) && (t[i] == ' ' || t[i] == '\t') {
		i++
	}
	if i >= len(t) || (t[i] != ':' && t[i] != '=') {
		return
	}
	i++
	if i < len(t) && (t[i] == '=' || t[i] == '>') { // := =>
		i++
	}
	for i < len(t) && (t[i] == ' ' || t[i] == '\t') {
		i++
	}
	if kind == kwAuthorization {
		s.bearer(i)
		return
	}
	va, vb := valueSpan(t, i)
	if va == vb {
		return
	}
	s.credential(kind, va, vb)
}

// valueSpan returns the value starting at i: quoted up to its quote, or up
// to a delimiter.
func valueSpan(t []byte, i int) (int, int) {
	if i >= len(t) {
		return i, i
	}
	if q := t[i]; q == '"' || q == '\'' || q == '`' {
		j := i + 1
		for j < len(t) && t[j] != q && t[j] != '\n' && j-i < 1024 {
			j++
		}
		if j >= len(t) || t[j] != q {
			return i, i
		}
		return i + 1, j
	}
	j := i
	for j < len(t) && j-i < 1024 {
		c := t[j]
		if isSpace(c) || c == ',' || c == ';' || c == '&' || c == '"' || c == '\'' || c == ')' || c == '}' || c == ']' || c == '<' || c == '>' {
			break
		}
		j++
	}
	return i, j
}

// credential decides whether t[a:b], found beside a key name of the given
// kind, is a credential, and reports it.
func (s *scanner) credential(kind, a, b int) {
	v := s.t[a:b]
	switch kind {
	case kwAWSSecret:
		if len(v) == 40 && allOf(v, func(c byte) bool { return isAlnum(c) || c == '/' || c == '+' }) {
			s.add(dAWSSecretKey, a, b)
			return
		}
	case kwAzure:
		if len(v) >= 40 && allOf(v, isB64Std) {
			s.add(dAzureStorageKey, a, b)
			return
		}
	case kwPassword:
		if passwordLike(v) {
			s.add(dGenericSecret, a, b)
		}
		return
	}
	if secretLike(v) {
		s.add(dGenericSecret, a, b)
	}
}

// bearer checks the credential after an authorization scheme at i.
func (s *scanner) bearer(i int) {
	t := s.t
	for _, scheme := range []string{"bearer ", "basic ", "token "} {
		if hasPrefixFold(t[i:], scheme) {
			i += len(scheme)
			break
		}
	}
	a, b := valueSpan(t, i)
	if a < b && secretLike(t[a:b]) {
		s.add(dGenericSecret, a, b)
	}
}

// keyContext checks a whole string value whose JSON key names a credential.
func (s *scanner) keyContext(t, key []byte) {
	var buf [48]byte
	k := normKey(buf[:], key)
	switch kind := keywordKind(k); kind {
	case kwNone, kwTurn, kwAuthorization:
		if kind == kwAuthorization {
			s.bearer(0)
		}
	case kwBSN:
		if len(t) == 9 && allOf(t, isDigit) && elevenCheck(t) {
			s.add(dNLBSN, 0, len(t))
		}
	default:
		s.credential(kind, 0, len(t))
	}
}

// placeholder reports values that stand for a credential rather than
// being one: <password>, ${TOKEN}, {{ secret }}, %PASS%, ****, xxxx.
func placeholder(v []byte) bool {
	if len(v) == 0 {
		return true
	}
	switch v[0] {
	case '<', '$', '{', '%', '[', '(', '*':
		return true
	}
	same := true
	for _, c := range v {
		same = same && c == v[0]
	}
	if same {
		return true
	}
	var buf [32]byte
	if l := normKey(buf[:], v); l != nil {
		switch string(l) {
		case "password", "passwd", "secret", "token", "string", "null", "none", "nil", "redacted",
			"example", "undefined", "true", "false", "required", "optional", "your_password", "your_token",
			"your_api_key", "changeit", "placeholder", "hidden", "masked", "not_set", "unset", "empty":
			return true
		}
	}
	return bytes.Contains(v, []byte("xxxx")) || bytes.Contains(v, []byte("XXXX")) ||
		bytes.Contains(v, []byte("***")) || bytes.Contains(v, []byte("...")) || bytes.Contains(v, []byte("…"))
}

// classes counts the kinds of character in v: lower, upper, digit, other.
func classes(v []byte) int {
	var l, u, d, o int
	for _, c := range v {
		switch {
		case isLower(c):
			l = 1
		case isUpper(c):
			u = 1
		case isDigit(c):
			d = 1
		default:
			o = 1
		}
	}
	return l + u + d + o
}

// passwordLike: a value beside a password key that is not a placeholder
// and looks chosen rather than being a word.
func passwordLike(v []byte) bool {
	if len(v) < 6 || len(v) > 256 || placeholder(v) || bytes.ContainsAny(v, " \t\n") {
		return false
	}
	return classes(v) >= 2
}

// secretLike: a value beside a key name that is long, random-looking and
// not a placeholder, a path or a URL.
func secretLike(v []byte) bool {
	if len(v) < 16 || len(v) > 4096 || placeholder(v) || bytes.ContainsAny(v, " \t\n") {
		return false
	}
	if bytes.Contains(v, []byte("://")) || (v[0] == '/' && bytes.Count(v, []byte("/")) >= 2) || allOf(v, isDigit) {
		return false
	}
	return classes(v) >= 2 && entropy(v) >= 3.0
}

// entropy is the Shannon entropy of v in bits per byte.
func entropy(v []byte) float64 {
	var counts [256]uint16
	for _, c := range v {
		counts[c]++
	}
	n := float64(len(v))
	h := 0.0
	for _, k := range counts {
		if k > 0 {
			p := float64(k) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
