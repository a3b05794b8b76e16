package scan

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/inspect"
)

// Signal kinds.
const (
	SignalCredentials   = "credentials"
	SignalManyParams    = "many_parameters"
	SignalFilePath      = "filesystem_path"
	SignalURL           = "url"
	SignalHTML          = "html_or_template"
	SignalCode          = "code_or_query"
	SignalBulk          = "bulk"
	SignalIrreversible  = "irreversible"
	SignalPoisoning     = "poisoning"
	manyParamsThreshold = 10
)

// Signal is one reason to look harder at a tool, with the input paths (if
// any) that raised it.
type Signal struct {
	Kind        string   `json:"kind"`
	Description string   `json:"description"`
	Paths       []string `json:"paths"`
}

var (
	credentialHeads = words{"token", "tokens", "secret", "secrets", "password", "passwords",
		"passwd", "pwd", "credential", "credentials", "passphrase", "cookie", "cookies",
		"authorization", "apikey", "privatekey", "secretkey", "accesskey", "otp", "pin"}
	// Words that turn "token" into a count or a page cursor.
	notCredential = words{"max", "min", "count", "limit", "num", "number", "page", "next",
		"prev", "previous", "continuation", "pagination", "cursor", "usage", "total", "sync",
		"expiration", "expiry", "ttl", "length", "lifetime", "type", "types", "name", "id",
		"ids", "enabled", "policy", "rules", "configuration", "config", "settings", "age",
		"timeout", "duration", "seconds", "minutes", "strength", "validation", "required"}
	keyQualifiers = words{"api", "private", "secret", "access", "signing", "encryption", "ssh",
		"client", "master", "license"}
	pathHeads = words{"path", "paths", "filepath", "filepaths", "filename", "filenames", "file",
		"files", "dir", "dirs", "directory", "directories", "folder", "folders", "dirname",
		"cwd", "pathname", "root"}
	notPath = words{"url", "uri", "json", "x", "api", "http", "https", "endpoint", "redirect",
		"route", "web", "cookie", "request", "id", "ids", "type", "name", "size", "count"}
	urlHeads    = words{"url", "urls", "uri", "uris", "href", "link", "links", "website", "homepage", "webhook"}
	urlFormats  = words{"uri", "url", "iri", "uri-reference", "iri-reference", "uri-template"}
	htmlHeads   = words{"html", "xhtml", "markup", "template", "templates", "mjml"}
	htmlBodies  = words{"body", "content", "source", "text", "snippet", "fragment", "string"}
	codeHeads   = words{"script", "scripts", "command", "cmd", "commands", "sql", "query", "queries", "expression", "expr", "javascript", "python", "shell", "bash", "cypher", "jql", "cql", "graphql", "lucene", "promql", "logql", "statement", "statements", "snippet", "querystring", "program"}
	codeContext = words{"code", "execute", "exec", "eval", "evaluate", "run", "script", "python",
		"javascript", "interpret", "compile", "decompile", "ast", "syntax", "lint", "scan",
		"semgrep", "format", "analyze", "analyse", "refactor", "sandbox", "repl"}
	bulkNameWords = words{"bulk", "batch", "all", "many", "multiple", "mass"}
	bulkWording   = lazyRegexp(`(?i)\b(bulk|batch(es)?|en masse|in one (call|request)|all (of )?(the )?(data|records|documents|users|entries|rows|items|files|objects|entities)|entire)\b`)
	irreversible  = lazyRegexp(`(?i)\b(irreversibl[ey]|irrevocabl[ey]|permanent(ly)?|cannot be (undone|reversed|recovered|restored)|can ?not be (undone|reversed|recovered|restored)|can't be (undone|reversed|recovered|restored)|unrecoverable|not recoverable|no undo|hard[- ]delete[sd]?)\b`)
)

// words is a small set of words. Lookups are linear: the sets hold a few
// dozen words at most, and a slice literal is laid out by the linker,
// where a map would be built by code at every start of the binary.
type words []string

func (ws words) has(w string) bool { return slices.Contains(ws, w) }

func anyIn(ws []string, set words) bool {
	return slices.ContainsFunc(ws, set.has)
}

// findSignals looks at the whole input schema, the name and the
// description.
func findSignals(t Tool, params []param, truncated bool) []Signal {
	var (
		cred, file, url, html, code, bulk []string
		counted                           []string
	)
	nameW := nameWords(t.Name)
	descW := nameWords(t.Description)
	codey := anyIn(nameW, codeContext) || anyIn(descW[:min(len(descW), 12)], codeContext)
	for _, p := range params {
		if p.Counted {
			counted = append(counted, p.Path)
		}
		w := nameWords(p.Name)
		if len(w) == 0 {
			continue
		}
		head := w[len(w)-1]
		scalar := !p.Records && !isKind(p.Type, "object")
		if scalar && isCredential(w, head, p.Format) {
			cred = append(cred, p.Path)
		}
		if scalar && pathHeads.has(head) && !anyIn(w, notPath) && !urlFormats.has(strings.ToLower(p.Format)) && !strings.Contains(p.Type, "integer") && !strings.Contains(p.Type, "boolean") {
			file = append(file, p.Path)
		}
		if scalar && (urlHeads.has(head) || urlFormats.has(strings.ToLower(p.Format)) || (anyIn(w, words{"url", "uri"}) && !anyIn(w[len(w)-1:], words{"id", "ids", "type", "enabled"}))) {
			url = append(url, p.Path)
		}
		if scalar && (htmlHeads.has(head) || (htmlBodies.has(head) && anyIn(w, words{"html", "xhtml", "template"}))) {
			html = append(html, p.Path)
		}
		if scalar && (codeHeads.has(head) || codeHeads.has(strings.ToLower(p.Name)) || (head == "code" && len(w) <= 2 && codey && !anyIn(w, words{"country", "currency", "language", "postal", "zip", "status", "error", "verification", "auth", "promo", "discount", "coupon", "phone", "area", "region", "locale", "response", "http", "exit", "one", "recovery", "user", "device"}))) {
			code = append(code, p.Path)
		}
		if p.Records && p.Depth == 0 {
			bulk = append(bulk, p.Path)
		}
	}
	out := []Signal{}
	add := func(kind, desc string, paths []string) {
		if paths == nil {
			paths = []string{}
		}
		out = append(out, Signal{Kind: kind, Description: desc, Paths: paths})
	}
	if len(cred) > 0 {
		add(SignalCredentials, "handles credentials or secrets", cred)
	} else if nameHandlesCredentials(nameW, t.Description) {
		add(SignalCredentials, "handles credentials or secrets (by its name or description)", nil)
	}
	if n := len(counted); n >= manyParamsThreshold {
		desc := fmt.Sprintf("high parameter count: %d", n)
		if truncated {
			desc += " or more (schema too large to walk completely)"
		}
		add(SignalManyParams, desc, counted)
	}
	if len(file) > 0 {
		add(SignalFilePath, "accepts a file-system path", file)
	}
	if len(url) > 0 {
		add(SignalURL, "accepts a URL", url)
	}
	if len(html) > 0 {
		add(SignalHTML, "accepts raw HTML or templates", html)
	}
	if len(code) > 0 {
		add(SignalCode, "accepts free-form code or queries", code)
	}
	switch {
	case len(bulk) > 0:
		add(SignalBulk, "bulk operation: takes arrays of records", bulk)
	case anyIn(nameW, bulkNameWords):
		add(SignalBulk, "bulk operation (by its name)", nil)
	case bulkWording().MatchString(t.Description):
		add(SignalBulk, "bulk operation (by its description)", nil)
	}
	if m := irreversible().FindString(t.Description); m != "" {
		add(SignalIrreversible, fmt.Sprintf("irreversible wording in the description: %q", strings.ToLower(m)), nil)
	}
	if desc, paths := poisoning(t); desc != "" {
		add(SignalPoisoning, desc, paths)
	}
	return out
}

// poisoning lists the poisoning markers in what the tool says of itself
// (inspect.Poisoning: instructions addressed to the model, hidden Unicode,
// <IMPORTANT>-style blocks), the ones tollgate pins diff flags too.
func poisoning(t Tool) (desc string, paths []string) {
	doc, err := json.Marshal(t)
	if err != nil {
		return "", nil
	}
	flags := inspect.Poisoning(doc)
	if len(flags) == 0 {
		return "", nil
	}
	var what []string
	for _, f := range flags {
		what = append(what, f.Detector+" "+strconv.Quote(f.Excerpt))
		if !slices.Contains(paths, f.Path) {
			paths = append(paths, f.Path)
		}
	}
	return "poisoning markers in its definition (text addressed to the model, not the user): " + strings.Join(what, ", "), paths
}

func isCredential(w []string, head, format string) bool {
	if strings.EqualFold(format, "password") {
		return true
	}
	if anyIn(w, notCredential) {
		return false
	}
	if credentialHeads.has(head) {
		return true
	}
	if head == "key" || head == "keys" {
		// "apiKey", "private_key", and "key" itself inside an API key
		// object: but not "idempotencyKey" or a map's "key".
		return anyIn(w, keyQualifiers)
	}
	return false
}

var credentialNameWords = words{"token", "tokens", "secret", "secrets", "password", "passwords",
	"credential", "credentials", "apikey", "key", "keys", "jwt", "otp", "passphrase", "env",
	"recovery"}

// notCredentialName are words that make a credential word in a tool name
// about something else: "retrievePasswordValidationRules", "count_tokens".
var notCredentialName = words{"max", "min", "count", "limit", "page", "usage", "validation",
	"rules", "policy", "policies", "requirements", "strength", "expiration"}

var credentialWording = lazyRegexp(`(?i)\b(connection string|environment variables?|api keys?|access tokens?|refresh tokens?|secrets?|passwords?|credentials?|private keys?)\b`)

func nameHandlesCredentials(nameW []string, desc string) bool {
	if anyIn(nameW, notCredentialName) {
		return false
	}
	if anyIn(nameW, credentialNameWords) {
		return true
	}
	for _, loc := range credentialWording().FindAllStringIndex(firstSentence(desc), -1) {
		next := nameWords(desc[loc[1]:min(len(desc), loc[1]+40)])
		if len(next) == 0 || !notCredentialName.has(next[0]) {
			return true
		}
	}
	return false
}

// lazyRegexp compiles expr on first use: only tollgate scan needs these
// patterns, and every package initialiser costs every tollgate run at
// start-up (see docs/performance.md).
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
