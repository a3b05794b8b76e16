package inspect

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
)

// Poisoning markers in what a server says about its tools, prompts and
// resources (descriptions, titles, parameter descriptions): the model reads
// them as instructions, the person reviewing a tool list usually does not
// read them at all. The injection detectors (phrases addressed to the
// model, fake delimiters such as <IMPORTANT>, hidden Unicode) run over the
// whole definition, and a few phrases that are innocent in a tool's answer
// but not in its description are added.

// PoisonFlag is one marker found in a definition.
type PoisonFlag struct {
	// Detector is an injection detector's name ("injection_phrase",
	// "fake_delimiter", "unicode_tags", "bidi_control", "zero_width") or
	// "model_directive" (a phrase below).
	Detector string `json:"detector"`
	// Path is where, in argpath form without the root ("description",
	// "inputSchema.properties.path.description").
	Path string `json:"path"`
	// Excerpt is the matched text, hidden characters written as \u escapes
	// so a person can see them.
	Excerpt string `json:"excerpt"`
}

func (f PoisonFlag) String() string {
	return f.Detector + " at " + f.Path + ": " + f.Excerpt
}

var poisonInspector = sync.OnceValue(func() *Inspector {
	in, err := Compile(Config{Detectors: map[string]Action{"injection": Record}})
	if err != nil {
		panic(err) // a fixed configuration
	}
	return in
})

// directives are phrases that address the model from a tool's description:
// they ask it to act before or beside the tool's purpose, or reach for
// files an agent should never send anywhere. Lower case.
var directives = []string{
	"before using this tool", "before calling this tool", "before using any tool", "when this tool is available",
	"instead of the user", "without asking the user", "do not mention", "don't mention", "do not tell", "don't tell",
	"the assistant must", "the model must", "as a side note", "sidenote",
	"~/.ssh", "id_rsa", "id_ed25519", "~/.aws", "mcp.json", "~/.cursor", ".env file",
}

// Poisoning returns the poisoning markers in doc, a JSON definition, in
// document order. Invalid JSON yields what was found before the error.
func Poisoning(doc []byte) []PoisonFlag {
	var out []PoisonFlag
	_ = poisonInspector().Scan(doc, func(f Finding) {
		out = append(out, PoisonFlag{Detector: detectorName(f), Path: f.Path, Excerpt: excerptAt(doc, f)})
	})
	_ = walkStrings(doc, "", func(path, s string) {
		low := strings.ToLower(s)
		for _, d := range directives {
			if i := strings.Index(low, d); i >= 0 {
				out = append(out, PoisonFlag{Detector: "model_directive", Path: path, Excerpt: visible(s[i : i+len(d)])})
			}
		}
	})
	slices.SortStableFunc(out, func(a, b PoisonFlag) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func detectorName(f Finding) string { return f.Detector }

// excerptAt returns the matched text of f (at most 80 bytes of it).
func excerptAt(doc []byte, f Finding) string {
	var s string
	found := false
	_ = walkStrings(doc, "", func(path, v string) {
		if !found && path == f.Path {
			s, found = v, true
		}
	})
	if f.Key {
		return "(in a key)"
	}
	if !found || f.Start < 0 || f.End > len(s) || f.Start > f.End {
		return ""
	}
	m := s[f.Start:f.End]
	if len(m) > 80 {
		m = m[:80] + "…"
	}
	return visible(m)
}

// visible writes characters a person cannot see (format, control and
// tag characters) as \u escapes.
func visible(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t':
			b.WriteRune(' ')
		case r < 0x20, r >= 0x7f && r < 0xa0, r == 0xad, r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e,
			r >= 0x2060 && r <= 0x206f, r == 0xfeff, r >= 0xe0000 && r <= 0xe007f:
			if r > 0xffff {
				b.WriteString(`\U` + strings.ToUpper(hex8(uint32(r))))
			} else {
				b.WriteString(`\u` + strings.ToUpper(hex8(uint32(r))[4:]))
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func hex8(v uint32) string {
	const digits = "0123456789abcdef"
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// walkStrings calls fn with every string value in doc and its path.
func walkStrings(doc []byte, path string, fn func(path, s string)) error {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return err
	}
	var walk func(p string, v any)
	walk = func(p string, v any) {
		switch x := v.(type) {
		case string:
			fn(p, x)
		case []any:
			for i, e := range x {
				walk(p+"["+itoa(i)+"]", e)
			}
		case map[string]any:
			for k, e := range x {
				walk(joinKey(p, k), e)
			}
		}
	}
	walk(path, v)
	return nil
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for ; i > 0; i /= 10 {
		n--
		b[n] = byte('0' + i%10)
	}
	return string(b[n:])
}

// joinKey appends a member to a path the way Finding.Path spells it.
func joinKey(p, k string) string {
	if plainName([]byte(k)) {
		if p == "" {
			return k
		}
		return p + "." + k
	}
	var b strings.Builder
	b.WriteString(p + `["`)
	for _, c := range []byte(k) {
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteString(`"]`)
	return b.String()
}
