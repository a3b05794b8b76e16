package clientconf

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Kind is the JSON type of a Node.
type Kind int

const (
	Object Kind = iota + 1
	Array
	String
	Number
	Bool
	Null
)

// Node is one JSON value with the byte span it occupies in its file, so
// that an edit replaces exactly those bytes and nothing else.
type Node struct {
	Kind       Kind
	Start, End int // value bytes: data[Start:End]
	Str        string
	Members    []Member // Object, in file order
	Elems      []*Node  // Array
}

// Member is one key of an object.
type Member struct {
	Key      string
	KeyStart int // the opening quote of the key
	Value    *Node
}

// Get returns the value of key, or nil. With duplicate keys the last one
// wins, as in the JSON parsers the clients use.
func (n *Node) Get(key string) *Node {
	if n == nil || n.Kind != Object {
		return nil
	}
	var v *Node
	for _, m := range n.Members {
		if m.Key == key {
			v = m.Value
		}
	}
	return v
}

// Strings returns an array of strings, and whether n is one.
func (n *Node) Strings() ([]string, bool) {
	if n == nil || n.Kind != Array {
		return nil, false
	}
	out := make([]string, 0, len(n.Elems))
	for _, e := range n.Elems {
		if e.Kind != String {
			return nil, false
		}
		out = append(out, e.Str)
	}
	return out, true
}

// Parse reads JSON with comments (// and /* */) and trailing commas, the
// JSONC that VS Code's files are written in. Plain JSON is a subset.
func Parse(data []byte) (*Node, error) {
	p := &parser{data: data}
	p.space()
	n, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.err != nil {
		return nil, p.err
	}
	if p.pos != len(data) {
		return nil, p.errorf("unexpected %q after the top-level value", p.data[p.pos])
	}
	return n, nil
}

const maxDepth = 512

type parser struct {
	data []byte
	pos  int
	err  error // from space: an unterminated comment
}

func (p *parser) errorf(format string, args ...any) error {
	line, col := 1, 1
	for _, c := range p.data[:min(p.pos, len(p.data))] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return fmt.Errorf("parse JSON at %d:%d: %s", line, col, fmt.Sprintf(format, args...))
}

// space skips white space and comments.
func (p *parser) space() {
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			p.pos++
		case c == '/' && p.pos+1 < len(p.data) && p.data[p.pos+1] == '/':
			for p.pos < len(p.data) && p.data[p.pos] != '\n' {
				p.pos++
			}
		case c == '/' && p.pos+1 < len(p.data) && p.data[p.pos+1] == '*':
			end := strings.Index(string(p.data[p.pos+2:]), "*/")
			if end < 0 {
				p.err = p.errorf("unterminated comment")
				p.pos = len(p.data)
				return
			}
			p.pos += 2 + end + 2
		case c == 0xEF && p.pos == 0 && len(p.data) >= 3 && p.data[1] == 0xBB && p.data[2] == 0xBF:
			p.pos += 3 // a byte order mark
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (*Node, error) {
	if p.err != nil {
		return nil, p.err
	}
	if depth > maxDepth {
		return nil, p.errorf("nested too deeply")
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of file")
	}
	start := p.pos
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return &Node{Kind: String, Start: start, End: p.pos, Str: s}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		for p.pos < len(p.data) && strings.IndexByte("+-.eE0123456789", p.data[p.pos]) >= 0 {
			p.pos++
		}
		var f json.Number
		if err := json.Unmarshal(p.data[start:p.pos], &f); err != nil {
			p.pos = start
			return nil, p.errorf("bad number")
		}
		return &Node{Kind: Number, Start: start, End: p.pos, Str: string(p.data[start:p.pos])}, nil
	}
	for _, lit := range []struct {
		word string
		kind Kind
	}{{"true", Bool}, {"false", Bool}, {"null", Null}} {
		if strings.HasPrefix(string(p.data[p.pos:min(len(p.data), p.pos+5)]), lit.word) {
			p.pos += len(lit.word)
			return &Node{Kind: lit.kind, Start: start, End: p.pos, Str: lit.word}, nil
		}
	}
	return nil, p.errorf("unexpected %q", p.data[p.pos])
}

func (p *parser) str() (string, error) {
	start := p.pos
	p.pos++ // "
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\\':
			p.pos += 2
			continue
		case '"':
			p.pos++
			var s string
			if err := json.Unmarshal(p.data[start:p.pos], &s); err != nil {
				p.pos = start
				return "", p.errorf("bad string: %v", err)
			}
			return s, nil
		case '\n':
			p.pos = start
			return "", p.errorf("line break in a string")
		}
		p.pos++
	}
	p.pos = start
	return "", p.errorf("unterminated string")
}

func (p *parser) object(depth int) (*Node, error) {
	n := &Node{Kind: Object, Start: p.pos}
	p.pos++ // {
	for {
		p.space()
		if p.err != nil {
			return nil, p.err
		}
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			p.pos++
			n.End = p.pos
			return n, nil
		}
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("want a key in quotes")
		}
		keyStart := p.pos
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("want ':' after key %q", key)
		}
		p.pos++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.Members = append(n.Members, Member{Key: key, KeyStart: keyStart, Value: v})
		p.space()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.data) && p.data[p.pos] == '}' {
			continue
		}
		return nil, p.errorf("want ',' or '}' in an object")
	}
}

func (p *parser) array(depth int) (*Node, error) {
	n := &Node{Kind: Array, Start: p.pos}
	p.pos++ // [
	for {
		p.space()
		if p.err != nil {
			return nil, p.err
		}
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			p.pos++
			n.End = p.pos
			return n, nil
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.Elems = append(n.Elems, v)
		p.space()
		if p.pos < len(p.data) && p.data[p.pos] == ',' {
			p.pos++
			continue
		}
		if p.pos < len(p.data) && p.data[p.pos] == ']' {
			continue
		}
		return nil, p.errorf("want ',' or ']' in an array")
	}
}
