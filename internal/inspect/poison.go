package inspect

import (
	"bytes"
	"slices"
	"strings"
	"sync"

	"github.com/tollgate-mcp/tollgate/internal/visible"
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

// directiveBytes are the directives as bytes, for searching a string's
// lower-cased bytes without converting either.
var directiveBytes = func() [][]byte {
	out := make([][]byte, len(directives))
	for i, d := range directives {
		out[i] = []byte(d)
	}
	return out
}()

// Poisoning returns the poisoning markers in doc, a JSON definition, sorted
// by path (document order within a path). Invalid JSON yields what was found
// before the error. It reads doc once, in place: the injection detectors
// and the directives see each string as the walker decodes it (a repeated
// key's strings included), and nothing is decoded into Go values.
func Poisoning(doc []byte) []PoisonFlag {
	var out []PoisonFlag
	w := getWalker(poisonInspector(), doc)
	defer putWalker(w)
	w.report = func(f Finding) {
		out = append(out, PoisonFlag{Detector: detectorName(f), Path: f.Path, Excerpt: excerptOf(w.cur, f)})
	}
	var low []byte
	w.visit = func(text []byte) {
		var lowered []byte
		if isASCII(text) {
			low = asciiLower(low[:0], text)
			lowered = low
		} else {
			lowered = []byte(strings.ToLower(string(text)))
		}
		path := ""
		for n, d := range directiveBytes {
			i := bytes.Index(lowered, d)
			if i < 0 {
				continue
			}
			if path == "" {
				path = w.path()
			}
			ex := directives[n] // lower-casing changed the length: show the directive
			if i+len(d) <= len(text) && len(lowered) == len(text) {
				ex = string(text[i : i+len(d)])
			}
			out = append(out, PoisonFlag{Detector: "model_directive", Path: path, Excerpt: visible.Line(ex)})
		}
	}
	_ = w.run()
	slices.SortStableFunc(out, func(a, b PoisonFlag) int { return strings.Compare(a.Path, b.Path) })
	return out
}

func detectorName(f Finding) string { return f.Detector }

// excerptOf returns the text f matched in text, the string it was found in
// (at most 80 bytes of it).
func excerptOf(text []byte, f Finding) string {
	if f.Key {
		return "(in a key)"
	}
	if f.Start < 0 || f.End > len(text) || f.Start > f.End {
		return ""
	}
	m := string(text[f.Start:f.End])
	if len(m) > 80 {
		m = m[:80] + "…"
	}
	return visible.Line(m)
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// asciiLower appends b, lower-cased, to dst.
func asciiLower(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, lower(c))
	}
	return dst
}
