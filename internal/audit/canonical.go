package audit

import (
	"bytes"

	"github.com/tollgate-mcp/tollgate/internal/canonjson"
)

// The canonical form of arguments is internal/canonjson's, the one the
// approval fingerprint also uses, so that args_sha256 and an approval's
// args_hash agree for the same arguments.

// ArgsHash returns the hex SHA-256 of the canonical form of a JSON value
// (see canonjson). Empty input hashes as {} (a call without arguments).
func ArgsHash(raw []byte) (string, error) { return canonjson.Hash(raw) }

// Canonical re-encodes a JSON value in canonical form (see canonjson).
func Canonical(raw []byte) ([]byte, error) { return canonjson.Canonical(raw) }

// canonicalizer hashes arguments, keeping its buffers from one value to
// the next; it is not safe for concurrent use.
type canonicalizer struct{ e canonjson.Encoder }

func (c *canonicalizer) appendHash(dst, raw []byte) ([]byte, error) {
	return c.e.AppendHash(dst, raw)
}

func decodeValue(raw []byte) (any, error) { return canonjson.Decode(raw) }

func writeCanonical(b *bytes.Buffer, v any) error { return canonjson.Write(b, v) }

func canonicalNumber(lit string) (string, error) { return canonjson.Number(lit) }
