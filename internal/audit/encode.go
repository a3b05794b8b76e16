package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/canonjson"
)

// appendLine appends r as one chained line ending in '\n', with seq and
// prev as its chain members (r.Seq, r.Prev and r.Hash are ignored), and
// argsHash as its args_sha256 when r.ArgsSHA256 is empty (the writer's
// scratch copy of the hash: a line costs no string for it). The
// bytes are the ones json.Marshal gives for r with those members and no
// hash, followed by the hash: encoding by hand keeps encoding/json's
// reflection off the writer, and the rare record the hand encoder does not
// take on (see appendBody) still goes through json.Marshal.
func appendLine(dst []byte, r *Record, seq uint64, prev, argsHash []byte) ([]byte, error) {
	start := len(dst)
	out, ok := appendBody(dst, r, seq, prev, argsHash)
	if !ok {
		rc := *r
		rc.Seq, rc.Prev, rc.Hash = seq, string(prev), ""
		if rc.ArgsSHA256 == "" {
			rc.ArgsSHA256 = string(argsHash)
		}
		body, err := json.Marshal(&rc)
		if err != nil {
			return dst, fmt.Errorf("encode audit record: %w", err)
		}
		out = append(dst[:start], body...)
	}
	sum := sha256.Sum256(out[start:])
	out = append(out[:len(out)-1], `,"hash":"`...)
	out = hex.AppendEncode(out, sum[:])
	return append(out, "\"}\n"...), nil
}

// lineHashOf returns the hash member of a line appendLine wrote (ending in
// `"}` and '\n').
func lineHashOf(line []byte) []byte {
	n := len(line)
	return line[n-len("\"}\n")-2*sha256.Size : n-len("\"}\n")]
}

// appendBody appends r as json.Marshal encodes it, with seq and prev and
// without a hash. It returns false, having appended nothing, for what only
// json.Marshal does right: a time that is not UTC with a four-digit year, a
// latency that is not a finite number, and args that are not compact JSON.
func appendBody(dst []byte, r *Record, seq uint64, prev, argsHash []byte) ([]byte, bool) {
	start := len(dst)
	dst = append(dst, `{"time":"`...)
	var ok bool
	if dst, ok = appendTimeZ(dst, r.Time); !ok {
		return dst[:start], false
	}
	dst = append(dst, `","event":`...)
	dst = appendJSONString(dst, r.Event, true)
	dst = append(dst, `,"instance":`...)
	dst = appendJSONString(dst, r.Instance, true)
	dst = appendStringMember(dst, `,"session":`, r.Session)
	dst = appendStringMember(dst, `,"identity":`, r.Identity)
	dst = appendStringMember(dst, `,"server":`, r.Server)
	dst = appendStringMember(dst, `,"tool":`, r.Tool)
	dst = appendStringMember(dst, `,"decision":`, r.Decision)
	if r.Monitor {
		dst = append(dst, `,"monitor":true`...)
	}
	dst = appendStringMember(dst, `,"rule":`, r.Rule)
	dst = appendStringMember(dst, `,"reason":`, r.Reason)
	dst = appendStringsMember(dst, `,"counters":`, r.Counters)
	dst = appendStringsMember(dst, `,"findings":`, r.Findings)
	dst = appendStringMember(dst, `,"outcome":`, r.Outcome)
	if r.LatencyMS != 0 {
		if math.IsNaN(r.LatencyMS) || math.IsInf(r.LatencyMS, 0) {
			return dst[:start], false
		}
		dst = append(dst, `,"latency_ms":`...)
		dst = appendFloat(dst, r.LatencyMS)
	}
	if r.ArgsSHA256 == "" && len(argsHash) > 0 {
		dst = append(dst, `,"args_sha256":`...)
		dst = appendJSONString(dst, argsHash, true)
	} else {
		dst = appendStringMember(dst, `,"args_sha256":`, r.ArgsSHA256)
	}
	if len(r.Args) > 0 {
		if !isCompactJSON(r.Args) {
			return dst[:start], false
		}
		dst = append(dst, `,"args":`...)
		dst = appendHTMLEscaped(dst, r.Args)
	}
	dst = appendStringsMember(dst, `,"redacted":`, r.Redacted)
	dst = appendStringMember(dst, `,"state_error":`, r.StateError)
	dst = appendStringMember(dst, `,"approval_id":`, r.ApprovalID)
	dst = appendStringMember(dst, `,"approver":`, r.Approver)
	dst = appendStringMember(dst, `,"policy":`, r.Policy)
	if s := r.Start; s != nil {
		dst = append(dst, `,"start":{`...)
		n := len(dst)
		dst = appendStringMember(dst, `,"version":`, s.Version)
		if s.PID != 0 {
			dst = append(dst, `,"pid":`...)
			dst = strconv.AppendInt(dst, int64(s.PID), 10)
		}
		dst = appendStringMember(dst, `,"host":`, s.Host)
		dst = appendStringMember(dst, `,"policy_file":`, s.Policy)
		dst = appendStringMember(dst, `,"mode":`, s.Mode)
		dst = appendStringMember(dst, `,"state":`, s.State)
		dst = appendStringMember(dst, `,"server":`, s.Server)
		dst = appendStringMember(dst, `,"identity":`, s.Identity)
		if len(dst) > n {
			// Every member was written with a leading comma; the first
			// one's goes.
			dst = append(dst[:n], dst[n+1:]...)
		}
		dst = append(dst, '}')
	}
	dst = appendStringMember(dst, `,"result":`, r.Result)
	dst = appendStringMember(dst, `,"file":`, r.File)
	dst = appendStringsMember(dst, `,"errors":`, r.Errors)
	if r.Count != 0 {
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, r.Count, 10)
	}
	dst = appendStringMember(dst, `,"error":`, r.Error)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"prev":`...)
	dst = appendJSONString(dst, prev, true)
	return append(dst, '}'), true
}

// appendStringMember appends an omitempty string member.
func appendStringMember(dst []byte, name, s string) []byte {
	if s == "" {
		return dst
	}
	dst = append(dst, name...)
	return appendJSONString(dst, s, true)
}

// appendStringsMember appends an omitempty []string member.
func appendStringsMember(dst []byte, name string, ss []string) []byte {
	if len(ss) == 0 {
		return dst
	}
	dst = append(dst, name...)
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, s, true)
	}
	return append(dst, ']')
}

// appendFloat encodes a finite float64 as encoding/json does (like
// ECMAScript's Number.prototype.toString).
func appendFloat(dst []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// e-09 becomes e-9.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it (canonjson.AppendString, the one escaper).
func appendJSONString[S string | []byte](dst []byte, s S, escapeHTML bool) []byte {
	return canonjson.AppendString(dst, s, escapeHTML)
}

// appendHTMLEscaped appends compact JSON as json.Marshal writes a
// json.RawMessage: with '<', '>', '&', U+2028 and U+2029 escaped.
func appendHTMLEscaped(dst, src []byte) []byte {
	start := 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		if c == '<' || c == '>' || c == '&' {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			start = i + 1
		}
		if c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8 {
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF])
			start = i + 3
			i += 2
		}
	}
	return append(dst, src[start:]...)
}

// isCompactJSON reports whether b is valid JSON with no white space
// between tokens, which json.Marshal writes unchanged but for escaping.
func isCompactJSON(b []byte) bool {
	if !json.Valid(b) {
		return false
	}
	inString := false
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			return false
		}
	}
	return true
}

// appendTimeZ appends t as time.RFC3339Nano formats it, for a time whose
// offset from UTC is zero (written "Z") and whose year has four digits;
// for any other it appends nothing and reports false. It is the general
// formatter's output in a few arithmetic steps: AppendFormat was a tenth
// of the writer's time a line (measured, BenchmarkWrite).
func appendTimeZ(dst []byte, t time.Time) ([]byte, bool) {
	if _, off := t.Zone(); off != 0 {
		return dst, false
	}
	sec := t.Unix()
	days, rem := sec/86400, sec%86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	// The civil date of a day count from 1970-01-01, in the proleptic
	// Gregorian calendar (Howard Hinnant's days_from_civil, inverted).
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	year := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	if mp >= 10 {
		month = mp - 9
		year++
	}
	if year < 0 || year > 9999 {
		return dst, false
	}
	dst = append(dst,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+month/10), byte('0'+month%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+rem/36000), byte('0'+rem/3600%10), ':',
		byte('0'+rem%3600/600), byte('0'+rem%600/60), ':',
		byte('0'+rem%60/10), byte('0'+rem%10))
	if ns := t.Nanosecond(); ns != 0 {
		var frac [10]byte
		frac[0] = '.'
		for i := 9; i > 0; i-- {
			frac[i] = byte('0' + ns%10)
			ns /= 10
		}
		n := 10
		for frac[n-1] == '0' {
			n--
		}
		dst = append(dst, frac[:n]...)
	}
	return append(dst, 'Z'), true
}
