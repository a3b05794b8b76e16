package pins

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
)

func membersOf(k Kind) []string {
	switch k {
	case Prompt:
		return promptMembers
	case Resource:
		return resourceMembers
	}
	return toolMembers
}

// ErrAmbiguous: a definition reads differently in different JSON decoders
// (duplicate keys, keys equal under case folding, invalid UTF-8). It cannot
// be pinned: which of two "description" members would the model see?
var ErrAmbiguous = errors.New("ambiguous definition")

// Definition extracts a kind's definition from one raw list entry (a tool,
// a prompt or a resource): its name (a resource's uri), its canonical JSON (canonjson: keys sorted, no white space, numbers in one
// spelling, strings exactly as their characters, no Unicode normalisation)
// and its hash: the hex SHA-256 of the canonical JSON. Key order and white
// space do not change the hash; any other change does, a zero-width
// character included. An entry with duplicate keys at any depth is refused
// with an error wrapping ErrAmbiguous.
func Definition(k Kind, entry []byte) (Def, error) {
	var name string
	if err := jsonrpc.CheckUnambiguous(entry); err != nil {
		return Def{}, fmt.Errorf("read %s definition: %w: %w", k, ErrAmbiguous, err)
	}
	want := membersOf(k)
	nameKey := "name"
	if k == Resource {
		nameKey = "uri"
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
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
				buf.WriteByte(',')
			}
			n++
			kb, _ := json.Marshal(key) // a decoded string always marshals
			buf.Write(kb)
			buf.WriteByte(':')
			buf.Write(val)
		}
		return nil
	})
	if err != nil {
		return Def{}, fmt.Errorf("read %s definition: %w", k, err)
	}
	if name == "" {
		return Def{}, fmt.Errorf("read %s definition: no %s", k, nameKey)
	}
	buf.WriteByte('}')
	def, err := canonjson.Canonical(buf.Bytes())
	if err != nil {
		return Def{}, fmt.Errorf("read %s definition %q: %w", k, name, err)
	}
	return Def{Name: name, Hash: Hash(def), Definition: def}, nil
}

// Hash is the hex SHA-256 of a canonical definition.
func Hash(def []byte) string {
	sum := sha256.Sum256(def)
	return hex.EncodeToString(sum[:])
}

// looseName reads an entry's name member without checking the rest (for
// naming an entry Definition refused).
func looseName(k Kind, entry []byte) string {
	nameKey := "name"
	if k == Resource {
		nameKey = "uri"
	}
	var name string
	_ = jsonrpc.Members(entry, func(key string, val []byte) error {
		if key == nameKey && name == "" {
			name, _ = jsonrpc.Unquote(val)
		}
		return nil
	})
	return name
}
