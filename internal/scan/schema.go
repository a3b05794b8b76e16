package scan

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// param is one named property found anywhere in an input schema.
type param struct {
	Path        string // JSON path: "requestBody.refreshTokens[].token"
	Name        string // the property's own name: "token"
	Type        string // "string", "array of object", ... ("" when unknown)
	Format      string
	Description string
	Required    bool
	Enum        []string
	// Depth counts properties from the top (after any body wrapper): 0 is a
	// top-level argument.
	Depth int
	// Records is set on an array whose items are objects with properties.
	Records bool
	// Counted is false for the lone wrapper object around a request body.
	Counted bool
}

// walkBudget bounds the work done on one schema. $ref graphs that are not
// cycles can still fan out exponentially; a tool whose schema needs more
// nodes than this is reported as truncated rather than hanging the scan.
const walkBudget = 20000

type schemaWalker struct {
	root      any
	params    []param
	seen      map[string]bool
	budget    int
	truncated bool
}

// walkSchema lists every named property of an input schema: nested objects,
// array items (written "[]"), map values (written "*"), allOf/anyOf/oneOf
// branches, and local $ref targets ("#/$defs/X", "#/definitions/X", any JSON
// pointer into the schema), following each $ref at most once along any path
// so that recursive schemas terminate.
func walkSchema(raw json.RawMessage) (params []param, truncated bool) {
	if len(raw) == 0 {
		return nil, false
	}
	var root any
	if err := json.Unmarshal(raw, &root); err != nil {
		return nil, false
	}
	w := &schemaWalker{root: root, seen: map[string]bool{}, budget: walkBudget}
	top, _ := w.deref(root, nil).(map[string]any)
	props, _ := top["properties"].(map[string]any)
	wrapper := ""
	if len(props) >= 1 {
		for _, k := range sortedKeys(props) {
			if w.isWrapper(k, props[k], len(props)) {
				wrapper = k
				break
			}
		}
	}
	w.walk(root, "", nil, 0, wrapper)
	return w.params, w.truncated
}

// isWrapper says whether a top-level property only wraps the request body:
// an object with named properties that is either the only argument or is
// called requestBody or body.
func (w *schemaWalker) isWrapper(name string, s any, siblings int) bool {
	m, _ := w.deref(s, nil).(map[string]any)
	if m == nil {
		return false
	}
	props, _ := m["properties"].(map[string]any)
	if len(props) == 0 {
		return false
	}
	return siblings == 1 || name == "requestBody" || name == "body"
}

// deref follows $ref chains to the schema they name. It returns the node
// itself when it has no $ref, and nil for an unresolvable or cyclic chain.
func (w *schemaWalker) deref(node any, stack []string) any {
	for range 32 {
		m, ok := node.(map[string]any)
		if !ok {
			return node
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return node
		}
		if slices.Contains(stack, ref) {
			return nil
		}
		stack = append(stack, ref)
		target := w.resolve(ref)
		if target == nil {
			return nil
		}
		// Keywords beside $ref still apply (JSON Schema 2019-09 and later);
		// for the shallow view deref gives, the target's keywords win.
		node = target
	}
	return nil
}

// resolve looks up a local JSON pointer reference.
func (w *schemaWalker) resolve(ref string) any {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil // remote references are not fetched
	}
	node := w.root
	if frag == "" {
		return node
	}
	if !strings.HasPrefix(frag, "/") {
		return nil // anchors are not supported
	}
	for tok := range strings.SplitSeq(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch n := node.(type) {
		case map[string]any:
			node = n[tok]
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(n) {
				return nil
			}
			node = n[i]
		default:
			return nil
		}
		if node == nil {
			return nil
		}
	}
	return node
}

func (w *schemaWalker) walk(node any, path string, stack []string, depth int, wrapper string) {
	if w.budget <= 0 {
		w.truncated = true
		return
	}
	w.budget--
	m, ok := node.(map[string]any)
	if !ok {
		return
	}
	if ref, ok := m["$ref"].(string); ok {
		if !slices.Contains(stack, ref) {
			if target := w.resolve(ref); target != nil {
				w.walk(target, path, append(slices.Clip(stack), ref), depth, wrapper)
			}
		}
	}
	required := map[string]bool{}
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			if s, ok := r.(string); ok {
				required[s] = true
			}
		}
	}
	if props, ok := m["properties"].(map[string]any); ok {
		for _, k := range sortedKeys(props) {
			child := props[k]
			p := join(path, k)
			isWrapper := path == "" && k == wrapper
			childDepth := depth + 1
			if path == "" {
				childDepth = 0
			}
			if isWrapper {
				childDepth = -1 // its fields are top-level arguments
			}
			w.record(p, k, child, stack, required[k], max(childDepth, 0), !isWrapper)
			w.walk(child, p, stack, childDepth, wrapper)
		}
	}
	switch items := m["items"].(type) {
	case map[string]any:
		w.walk(items, path+"[]", stack, depth, wrapper)
	case []any:
		for _, it := range items {
			w.walk(it, path+"[]", stack, depth, wrapper)
		}
	}
	if pre, ok := m["prefixItems"].([]any); ok {
		for _, it := range pre {
			w.walk(it, path+"[]", stack, depth, wrapper)
		}
	}
	for _, key := range []string{"additionalProperties", "unevaluatedProperties"} {
		if ap, ok := m[key].(map[string]any); ok {
			w.walk(ap, join(path, "*"), stack, depth, wrapper)
		}
	}
	if pp, ok := m["patternProperties"].(map[string]any); ok {
		for _, k := range sortedKeys(pp) {
			w.walk(pp[k], join(path, "*"), stack, depth, wrapper)
		}
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		if branches, ok := m[key].([]any); ok {
			for _, b := range branches {
				w.walk(b, path, stack, depth, wrapper)
			}
		}
	}
}

// record adds one named property, once per path.
func (w *schemaWalker) record(path, name string, s any, stack []string, required bool, depth int, counted bool) {
	if w.seen[path] {
		if required {
			for i := range w.params {
				if w.params[i].Path == path {
					w.params[i].Required = true
				}
			}
		}
		return
	}
	w.seen[path] = true
	p := param{Path: path, Name: name, Required: required, Depth: depth, Counted: counted}
	m, _ := w.deref(s, stack).(map[string]any)
	if m != nil {
		p.Type = schemaType(m)
		p.Format, _ = m["format"].(string)
		p.Description, _ = m["description"].(string)
		if enum, ok := m["enum"].([]any); ok {
			for _, e := range enum {
				if s, ok := e.(string); ok {
					p.Enum = append(p.Enum, s)
				}
			}
		}
		if isKind(p.Type, "array") || p.Type == "" {
			if items, ok := w.deref(m["items"], stack).(map[string]any); ok {
				it := schemaType(items)
				if ip, ok := items["properties"].(map[string]any); ok && len(ip) > 0 {
					p.Records = true
				}
				if p.Format == "" {
					p.Format, _ = items["format"].(string)
				}
				if it != "" {
					_, nullable := nonNull(p.Type)
					p.Type = "array of " + it
					if nullable {
						p.Type += "|null"
					}
				}
			}
		}
	}
	w.params = append(w.params, p)
}

// schemaType names a schema's type for people: "string", "object",
// "string|null"; "" when the schema does not say. In a type union, "null"
// comes last whatever its place in the schema: ["null","array"] (the Go
// SDK's form for a slice) reads "array|null".
func schemaType(m map[string]any) string {
	switch t := m["type"].(type) {
	case string:
		return t
	case []any:
		var parts []string
		null := false
		for _, x := range t {
			if s, ok := x.(string); ok {
				if s == "null" {
					null = true
				} else {
					parts = append(parts, s)
				}
			}
		}
		if null {
			parts = append(parts, "null")
		}
		return strings.Join(parts, "|")
	}
	if _, ok := m["properties"]; ok {
		return "object"
	}
	if _, ok := m["items"]; ok {
		return "array"
	}
	return ""
}

// nonNull returns a type as schemaType names it without its "null" member,
// and whether it had one: "array|null" is ("array", true).
func nonNull(t string) (base string, nullable bool) {
	if t == "null" {
		return "", true
	}
	base, nullable = strings.CutSuffix(t, "|null")
	return base, nullable
}

// isKind reports whether a value of type t (as schemaType names it) is of
// kind, or null: a nullable array is an array for every check that asks.
func isKind(t, kind string) bool {
	base, _ := nonNull(t)
	return base == kind
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
