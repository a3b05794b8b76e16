package main

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"
)

// httpMethods are the operation keys of an OpenAPI path item. Operations are
// emitted in the order the description writes them, not in this order.
var httpMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

// object is a JSON object that keeps its members in the order they were
// written, so that the output follows the description key for key.
type object struct {
	members []member
}

type member struct {
	key string
	val any // *object, []any, string, int64, float64, bool or nil
}

func (o *object) get(key string) (any, bool) {
	for _, m := range o.members {
		if m.key == key {
			return m.val, true
		}
	}
	return nil, false
}

// set replaces the value of key where it stands, or appends it.
func (o *object) set(key string, val any) {
	for i := range o.members {
		if o.members[i].key == key {
			o.members[i].val = val
			return
		}
	}
	o.members = append(o.members, member{key, val})
}

// generate returns the tools/list result ({"tools": [...]}) for the OpenAPI
// description spec: for each operation a tool whose name is the operationId,
// whose description is the operation's, and whose inputSchema is an object
// with one property per path, query and header parameter (the parameter's
// schema plus its description; required ones listed in "required") and, when
// the operation takes a JSON body, a "requestBody" property holding the body
// schema. Every $ref is replaced by a copy of what it points to. _meta.http
// records the operation's method and path.
func generate(spec []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(spec, &doc); err != nil {
		return nil, fmt.Errorf("parse description: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("parse description: not one YAML document")
	}
	root, err := convert(doc.Content[0])
	if err != nil {
		return nil, fmt.Errorf("parse description: %w", err)
	}
	top, ok := root.(*object)
	if !ok {
		return nil, errors.New("parse description: top level is not an object")
	}
	r := &resolver{root: top}
	pathsV, _ := top.get("paths")
	paths, ok := pathsV.(*object)
	if !ok {
		return nil, errors.New("read paths: missing or not an object")
	}
	var tools []any
	seen := map[string]string{}
	for _, p := range paths.members {
		item, ok := p.val.(*object)
		if !ok {
			return nil, fmt.Errorf("read path %s: not an object", p.key)
		}
		item, err := r.deref(item)
		if err != nil {
			return nil, fmt.Errorf("read path %s: %w", p.key, err)
		}
		var shared []any // parameters of the path item, for every operation
		if v, ok := item.get("parameters"); ok {
			if shared, ok = v.([]any); !ok {
				return nil, fmt.Errorf("read path %s: parameters is not a list", p.key)
			}
		}
		for _, m := range item.members {
			if !httpMethods[m.key] {
				continue
			}
			op, ok := m.val.(*object)
			if !ok {
				return nil, fmt.Errorf("read %s %s: not an object", m.key, p.key)
			}
			where := strings.ToUpper(m.key) + " " + p.key
			tool, err := r.tool(where, shared, op)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", where, err)
			}
			name, _ := tool.get("name")
			if prev, dup := seen[name.(string)]; dup {
				return nil, fmt.Errorf("read %s: operationId %q already used by %s", where, name, prev)
			}
			seen[name.(string)] = where
			tools = append(tools, tool)
		}
	}
	if tools == nil {
		tools = []any{}
	}
	var buf bytes.Buffer
	if err := encode(&buf, &object{members: []member{{"tools", tools}}}, 0); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// resolver inlines references into the description it was made from.
type resolver struct {
	root *object
}

func (r *resolver) tool(where string, shared []any, op *object) (*object, error) {
	idV, _ := op.get("operationId")
	id, ok := idV.(string)
	if !ok || id == "" {
		return nil, errors.New("no operationId")
	}
	desc := ""
	if v, ok := op.get("description"); ok {
		desc, _ = v.(string)
	} else if v, ok := op.get("summary"); ok {
		desc, _ = v.(string)
	}
	props := &object{}
	var required []any
	var params []any
	params = append(params, shared...)
	if v, ok := op.get("parameters"); ok {
		list, ok := v.([]any)
		if !ok {
			return nil, errors.New("parameters is not a list")
		}
		// An operation's parameter overrides the path item's one with the
		// same name and location.
		for _, pv := range list {
			params = r.overrideParam(params, pv)
		}
	}
	for _, pv := range params {
		po, ok := pv.(*object)
		if !ok {
			return nil, errors.New("a parameter is not an object")
		}
		po, err := r.deref(po)
		if err != nil {
			return nil, fmt.Errorf("parameter: %w", err)
		}
		name, _ := po.get("name")
		in, _ := po.get("in")
		pname, _ := name.(string)
		switch in {
		case "path", "query", "header":
		default:
			continue // cookies are not something a tool caller sets
		}
		if pname == "" {
			return nil, fmt.Errorf("a %v parameter has no name", in)
		}
		schema := &object{}
		if sv, ok := po.get("schema"); ok {
			s, err := r.inline(sv, nil)
			if err != nil {
				return nil, fmt.Errorf("parameter %s: %w", pname, err)
			}
			if schema, ok = s.(*object); !ok {
				return nil, fmt.Errorf("parameter %s: schema is not an object", pname)
			}
		}
		if d, ok := po.get("description"); ok {
			schema.set("description", d)
		}
		props.set(pname, schema)
		if req, _ := po.get("required"); req == true || in == "path" {
			required = append(required, pname)
		}
	}
	if bv, ok := op.get("requestBody"); ok {
		body, ok := bv.(*object)
		if !ok {
			return nil, errors.New("requestBody is not an object")
		}
		body, err := r.deref(body)
		if err != nil {
			return nil, fmt.Errorf("requestBody: %w", err)
		}
		if schema, ok := jsonBodySchema(body); ok {
			s, err := r.inline(schema, nil)
			if err != nil {
				return nil, fmt.Errorf("requestBody: %w", err)
			}
			props.set("requestBody", s)
			if req, _ := body.get("required"); req == true {
				required = append(required, "requestBody")
			}
		}
	}
	input := &object{members: []member{{"type", "object"}, {"properties", props}}}
	if len(required) > 0 {
		input.set("required", required)
	}
	return &object{members: []member{
		{"name", id},
		{"description", desc},
		{"inputSchema", input},
		{"_meta", &object{members: []member{{"http", where}}}},
	}}, nil
}

// overrideParam adds the parameter pv to params, replacing one with the same
// name and location.
func (r *resolver) overrideParam(params []any, pv any) []any {
	key := func(v any) (string, bool) {
		o, ok := v.(*object)
		if !ok {
			return "", false
		}
		o, err := r.deref(o)
		if err != nil {
			return "", false
		}
		n, _ := o.get("name")
		in, _ := o.get("in")
		return fmt.Sprint(in, "\x00", n), true
	}
	k, ok := key(pv)
	if ok {
		for i, q := range params {
			if qk, ok := key(q); ok && qk == k {
				out := append([]any(nil), params...)
				out[i] = pv
				return out
			}
		}
	}
	return append(params, pv)
}

// jsonBodySchema returns the schema of the body's JSON media type.
func jsonBodySchema(body *object) (any, bool) {
	cv, _ := body.get("content")
	content, ok := cv.(*object)
	if !ok {
		return nil, false
	}
	for _, m := range content.members {
		mt := strings.TrimSpace(strings.SplitN(m.key, ";", 2)[0])
		if mt != "application/json" && !strings.HasSuffix(mt, "+json") {
			continue
		}
		media, ok := m.val.(*object)
		if !ok {
			continue
		}
		if s, ok := media.get("schema"); ok {
			return s, true
		}
	}
	return nil, false
}

// deref follows o while it is a reference object.
func (r *resolver) deref(o *object) (*object, error) {
	for range 32 {
		ref, ok := o.get("$ref")
		if !ok {
			return o, nil
		}
		target, err := r.lookup(ref)
		if err != nil {
			return nil, err
		}
		t, ok := target.(*object)
		if !ok {
			return nil, fmt.Errorf("resolve %v: not an object", ref)
		}
		o = t
	}
	return nil, errors.New("resolve reference: chain too long")
}

// inline returns a deep copy of v with every reference replaced by a copy of
// its target. stack holds the references being inlined, so that a schema
// that contains itself fails instead of growing for ever.
func (r *resolver) inline(v any, stack []string) (any, error) {
	switch v := v.(type) {
	case *object:
		if ref, ok := v.get("$ref"); ok {
			s, _ := ref.(string)
			for _, on := range stack {
				if on == s {
					return nil, fmt.Errorf("inline %s: it refers to itself through %s", s, strings.Join(stack, " → "))
				}
			}
			target, err := r.lookup(ref)
			if err != nil {
				return nil, err
			}
			return r.inline(target, append(stack, s))
		}
		out := &object{members: make([]member, len(v.members))}
		for i, m := range v.members {
			c, err := r.inline(m.val, stack)
			if err != nil {
				return nil, err
			}
			out.members[i] = member{m.key, c}
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			c, err := r.inline(e, stack)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	default:
		return v, nil
	}
}

// lookup resolves a local JSON pointer ("#/components/schemas/User").
func (r *resolver) lookup(ref any) (any, error) {
	s, ok := ref.(string)
	if !ok || !strings.HasPrefix(s, "#/") {
		return nil, fmt.Errorf("resolve %v: only local references (#/…) are supported", ref)
	}
	var cur any = r.root
	for _, tok := range strings.Split(s[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		o, ok := cur.(*object)
		if !ok {
			return nil, fmt.Errorf("resolve %s: %q is not inside an object", s, tok)
		}
		if cur, ok = o.get(tok); !ok {
			return nil, fmt.Errorf("resolve %s: no %q", s, tok)
		}
	}
	return cur, nil
}

// convert turns a YAML node into JSON values, keeping mapping order.
func convert(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return convert(n.Alias)
	case yaml.MappingNode:
		o := &object{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: a key is not a scalar", k.Line)
			}
			if k.Tag == "!!merge" {
				return nil, fmt.Errorf("line %d: merge keys are not supported", k.Line)
			}
			v, err := convert(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			if _, dup := o.get(k.Value); dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			o.members = append(o.members, member{k.Value, v})
		}
		return o, nil
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str", "!!binary", "!!timestamp":
			return n.Value, nil
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if err := n.Decode(&b); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return b, nil
		case "!!int":
			var i int64
			if err := n.Decode(&i); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			return i, nil
		case "!!float":
			var f float64
			if err := n.Decode(&f); err != nil {
				return nil, fmt.Errorf("line %d: %w", n.Line, err)
			}
			if math.IsInf(f, 0) || math.IsNaN(f) {
				return nil, fmt.Errorf("line %d: %s has no JSON form", n.Line, n.Value)
			}
			return f, nil
		default:
			return nil, fmt.Errorf("line %d: unsupported tag %s", n.Line, n.Tag)
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node", n.Line)
	}
}

// encode writes v as JSON indented by one space per level, with every
// character outside ASCII escaped, so that the file reads the same in any
// editor and diffs line by line.
func encode(buf *bytes.Buffer, v any, depth int) error {
	nl := func(d int) {
		buf.WriteByte('\n')
		for range d {
			buf.WriteByte(' ')
		}
	}
	switch v := v.(type) {
	case *object:
		if len(v.members) == 0 {
			buf.WriteString("{}")
			return nil
		}
		buf.WriteByte('{')
		for i, m := range v.members {
			if i > 0 {
				buf.WriteByte(',')
			}
			nl(depth + 1)
			writeString(buf, m.key)
			buf.WriteString(": ")
			if err := encode(buf, m.val, depth+1); err != nil {
				return err
			}
		}
		nl(depth)
		buf.WriteByte('}')
	case []any:
		if len(v) == 0 {
			buf.WriteString("[]")
			return nil
		}
		buf.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				buf.WriteByte(',')
			}
			nl(depth + 1)
			if err := encode(buf, e, depth+1); err != nil {
				return err
			}
		}
		nl(depth)
		buf.WriteByte(']')
	case string:
		writeString(buf, v)
	case int64:
		buf.WriteString(strconv.FormatInt(v, 10))
	case float64:
		buf.WriteString(formatFloat(v))
	case bool:
		buf.WriteString(strconv.FormatBool(v))
	case nil:
		buf.WriteString("null")
	default:
		return fmt.Errorf("encode: unexpected %T", v)
	}
	return nil
}

// formatFloat writes the shortest form that reads back as f, always with a
// fraction or exponent so that it stays a float.
func formatFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}

func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	u := func(r rune) {
		buf.WriteString(`\u`)
		buf.WriteByte(hex[r>>12&0xf])
		buf.WriteByte(hex[r>>8&0xf])
		buf.WriteByte(hex[r>>4&0xf])
		buf.WriteByte(hex[r&0xf])
	}
	buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r < 0x20 || (r > 0x7f && r < 0x10000):
			u(r)
		case r >= 0x10000:
			hi, lo := utf16.EncodeRune(r)
			u(hi)
			u(lo)
		default:
			buf.WriteRune(r)
		}
	}
	buf.WriteByte('"')
}
