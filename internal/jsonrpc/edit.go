package jsonrpc

import (
	"bytes"
	"strconv"
)

// Edit replaces Old, a subslice of a frame, by Repl.
type Edit struct{ Old, Repl []byte }

// ApplyEdits returns a new slice holding frame with the edits applied, in
// the order their Old parts appear in it. An edit whose Old is nil, is not
// a subslice of frame or overlaps an earlier edit is skipped. edits is
// reordered in place (an insertion sort: callers pass a few, and nothing is
// allocated for it).
func ApplyEdits(frame []byte, edits ...Edit) []byte {
	return AppendEdits(make([]byte, 0, len(frame)+32), frame, edits...)
}

// AppendEdits is ApplyEdits appending to dst, which must not overlap frame.
func AppendEdits(dst, frame []byte, edits ...Edit) []byte {
	for i := 1; i < len(edits); i++ {
		for j := i; j > 0 && Offset(frame, edits[j].Old) < Offset(frame, edits[j-1].Old); j-- {
			edits[j], edits[j-1] = edits[j-1], edits[j]
		}
	}
	out := dst
	pos := 0
	for _, e := range edits {
		if e.Old == nil {
			continue
		}
		off := Offset(frame, e.Old)
		if off < pos || off+len(e.Old) > len(frame) || !bytes.Equal(frame[off:off+len(e.Old)], e.Old) {
			continue
		}
		out = append(out, frame[pos:off]...)
		out = append(out, e.Repl...)
		pos = off + len(e.Old)
	}
	return append(out, frame[pos:]...)
}

// MintedKey reads an id or progress token that Tollgate minted (a decimal
// integer) as a peer may echo it back: as that number, in another number
// spelling, or as a string holding it. Every spelling of one value gives
// the same key.
func MintedKey(id []byte) string {
	if len(id) > 0 && id[0] == '"' {
		s, _ := Unquote(id)
		return s
	}
	if f, err := strconv.ParseFloat(string(id), 64); err == nil {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return string(id)
}
