package pins

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/tollgate-mcp/tollgate/internal/canonjson"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

// The members of each kind's definition: what the model reads or what
// decides what a call means. Anything else (_meta, icons, execution hints)
// is left out, so a server changing those does not hold its tools.
var (
	toolMembers     = []string{"name", "title", "description", "inputSchema", "outputSchema", "annotations"}
	promptMembers   = []string{"name", "title", "description", "arguments"}
	resourceMembers = []string{"uri", "name", "title", "description", "mimeType"}
	templateMembers = []string{"uriTemplate", "name", "title", "description", "mimeType"}
)

func membersOf(k Kind) []string {
	switch k {
	case Prompt:
		return promptMembers
	case Resource:
		return resourceMembers
	case Template:
		return templateMembers
	}
	return toolMembers
}

// NameMember is the member that names an entry of kind k, and so its pin:
// a resource is named by its uri and a resource template by its
// uriTemplate (their names are labels: two of them may share one), the
// others by their name.
func (k Kind) NameMember() string {
	switch k {
	case Resource:
		return "uri"
	case Template:
		return "uriTemplate"
	}
	return "name"
}

// ErrAmbiguous: a definition reads differently in different JSON decoders
// (duplicate keys, keys equal under case folding, invalid UTF-8). It cannot
// be pinned: which of two "description" members would the model see?
var ErrAmbiguous = errors.New("ambiguous definition")

// Definition extracts a kind's definition from one raw list entry (a tool,
// a prompt, a resource or a resource template): its name (Kind.NameMember:
// a resource's uri, a template's uriTemplate), its canonical JSON
// (canonjson: keys sorted, no white space, numbers in one spelling,
// strings exactly as their characters, no Unicode normalisation) and its
// hash: the hex SHA-256 of the canonical JSON. Key order and white space
// do not change the hash; any other change does, a zero-width character
// included. An entry with duplicate keys at any depth is refused with an
// error wrapping ErrAmbiguous.
func Definition(k Kind, entry []byte) (Def, error) {
	var r defReader
	return r.read(k, entry)
}

// defReader reads definitions (Definition) one after another, keeping its
// scratch space between them: a list of hundreds of tools then allocates
// about what the canonical definitions take. Not safe for concurrent use.
type defReader struct {
	enc canonjson.Encoder
	buf []byte // the entry's defining members, as one object
	out []byte // their canonical form
}

func (r *defReader) read(k Kind, entry []byte) (Def, error) {
	var name string
	if err := jsonrpc.CheckUnambiguous(entry); err != nil {
		return Def{}, fmt.Errorf("read %s definition: %w: %w", k, ErrAmbiguous, err)
	}
	want := membersOf(k)
	nameKey := k.NameMember()
	buf := append(r.buf[:0], '{')
	n := 0
	err := jsonrpc.Members(entry, func(key string, val []byte) error {
		for _, w := range want {
			// Folded: Go's encoding/json (and so the Go SDK's clients)
			// reads "Description" as description.
			if !strings.EqualFold(key, w) {
				continue
			}
			if strings.EqualFold(key, nameKey) {
				s, ok := jsonrpc.Unquote(val)
				if !ok {
					return fmt.Errorf("%s is not a string", key)
				}
				name = s
			}
			if n > 0 {
				buf = append(buf, ',')
			}
			n++
			buf = canonjson.AppendString(buf, key, false)
			buf = append(buf, ':')
			buf = append(buf, val...)
		}
		return nil
	})
	buf = append(buf, '}')
	if cap(buf) <= maxKeptScratch {
		r.buf = buf[:0]
	} else {
		r.buf = nil
	}
	if err != nil {
		return Def{}, fmt.Errorf("read %s definition: %w", k, err)
	}
	if name == "" {
		return Def{}, fmt.Errorf("read %s definition: no %s", k, nameKey)
	}
	out, err := r.enc.AppendCanonical(r.out[:0], buf)
	if cap(out) <= maxKeptScratch {
		r.out = out[:0]
	} else {
		r.out = nil
	}
	if err != nil {
		return Def{}, fmt.Errorf("read %s definition %q: %w", k, name, err)
	}
	// The definition is kept: a slice of its own length.
	def := bytes.Clone(out)
	return Def{Name: name, Hash: Hash(def), Definition: def}, nil
}

// maxKeptScratch bounds the scratch space a defReader keeps between
// entries.
const maxKeptScratch = 1 << 20

// Hash is the hex SHA-256 of a canonical definition.
func Hash(def []byte) string {
	sum := sha256.Sum256(def)
	return hex.EncodeToString(sum[:])
}

// looseName reads an entry's name member without checking the rest (for
// naming an entry Definition refused).
func looseName(k Kind, entry []byte) string {
	nameKey := k.NameMember()
	var name string
	_ = jsonrpc.Members(entry, func(key string, val []byte) error {
		if key == nameKey && name == "" {
			name, _ = jsonrpc.Unquote(val)
		}
		return nil
	})
	return name
}
