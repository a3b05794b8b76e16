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
	out, _ := appendEdits(dst, frame, edits)
	return out
}

// applied is where an edit was made: at off in the frame, n bytes
// replaced by m.
type applied struct{ off, n, m int }

// appliedSet is where the first edits made were, in order (a value: kept
// on the caller's stack); over says more were made than it holds.
type appliedSet struct {
	at   [4]applied
	n    int
	over bool
}

// appendEdits is AppendEdits; it also returns where the edits it made
// were.
func appendEdits(dst, frame []byte, edits []Edit) ([]byte, appliedSet) {
	var at appliedSet
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
		if at.n < len(at.at) {
			at.at[at.n] = applied{off, len(e.Old), len(e.Repl)}
			at.n++
		} else {
			at.over = true
		}
	}
	return append(out, frame[pos:]...), at
}

// EditMessage is AppendEdits of m.Raw, m being what Parse gave for it, and
// also returns the message moved onto the result: moved is what Parse
// (with the same strictness) gives for out when every edit replaces a
// whole value, or a part of a string's contents, by one Parse accepts in
// its place. ok is false, and moved empty, when an edit straddles the
// edge of one of m's parts: then out must be parsed again. out is built in
// dst's array, from its start (dst's contents are not kept).
func EditMessage(dst []byte, m Message, edits ...Edit) (out []byte, moved Message, ok bool) {
	out, at := appendEdits(dst[:0], m.Raw, edits)
	if at.over {
		return out, Message{}, false
	}
	moved = Message{Raw: out, Method: m.Method}
	ok = true
	move := func(part []byte) []byte {
		if part == nil || !ok {
			return nil
		}
		start := Offset(m.Raw, part)
		end := start + len(part)
		if start < 0 || end > len(m.Raw) {
			ok = false
			return nil
		}
		from, to := start, end
		for _, a := range at.at[:at.n] {
			if (a.off < start && a.off+a.n > start) || (a.off < end && a.off+a.n > end) {
				ok = false // straddles an edge
				return nil
			}
			if a.off+a.n <= start {
				from += a.m - a.n
			}
			if a.off+a.n <= end {
				to += a.m - a.n
			}
		}
		return out[from:to]
	}
	moved.ID, moved.Params = move(m.ID), move(m.Params)
	moved.Result, moved.Error = move(m.Result), move(m.Error)
	if !ok {
		return out, Message{}, false
	}
	return out, moved, true
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
