package jsonrpc

import (
	"strconv"
	"unicode/utf8"
)

// AppendError appends a JSON-RPC error response with the raw id (null when
// id is nil) to dst.
func AppendError(dst, id []byte, code int, message string, data []byte) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","id":`...)
	if id == nil {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, id...)
	}
	dst = append(dst, `,"error":{"code":`...)
	dst = strconv.AppendInt(dst, int64(code), 10)
	dst = append(dst, `,"message":`...)
	dst = AppendString(dst, message)
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	return append(dst, "}}"...)
}

// lostData is the error data of LostError.
const lostData = `{"dev.tollgate/outcome":"no_response"}`

// AppendLost appends the error response (-32603) Tollgate gives in a
// server's place to a request that was sent and may have been acted on,
// when no answer will come: the connection to the server ended, or its
// answer could not be read. Its data, {"dev.tollgate/outcome":
// "no_response"}, tells a gate further along (a gateway's own policy, a
// proxy in front of another) that the server did not answer; see IsLost.
func AppendLost(dst, id []byte, message string) []byte {
	return AppendError(dst, id, CodeInternalError, message, []byte(lostData))
}

// IsLost reports whether the raw error object of a response is one
// AppendLost made: a call it ends may have run, so it is not the server's
// refusal. A server that sends the same data only keeps its own charges.
func IsLost(errObj []byte) bool {
	var data []byte
	if Members(errObj, func(k string, v []byte) error {
		if k == "data" {
			data = v
		}
		return nil
	}) != nil || len(data) == 0 || data[0] != '{' {
		return false
	}
	lost := false
	_ = Members(data, func(k string, v []byte) error {
		if k == "dev.tollgate/outcome" {
			lost = string(v) == `"no_response"`
		}
		return nil
	})
	return lost
}

// AppendResult appends a JSON-RPC result response with the raw id and the
// raw result to dst.
func AppendResult(dst, id, result []byte) []byte {
	dst = append(dst, `{"jsonrpc":"2.0","id":`...)
	dst = append(dst, id...)
	dst = append(dst, `,"result":`...)
	dst = append(dst, result...)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaping what JSON requires and
// the HTML-sensitive characters, and replacing invalid UTF-8 with U+FFFD.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
