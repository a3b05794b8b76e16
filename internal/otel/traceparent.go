package otel

import (
	"encoding/hex"
	"errors"
	"strings"
)

// TraceID identifies a trace: 16 bytes, not all zero.
type TraceID [16]byte

// SpanID identifies a span: 8 bytes, not all zero.
type SpanID [8]byte

// IsValid reports whether t is not all zero.
func (t TraceID) IsValid() bool { return t != TraceID{} }

// IsValid reports whether s is not all zero.
func (s SpanID) IsValid() bool { return s != SpanID{} }

func (t TraceID) String() string { return hex.EncodeToString(t[:]) }
func (s SpanID) String() string  { return hex.EncodeToString(s[:]) }

// FlagSampled is the W3C trace-flags bit saying the caller may have
// recorded its span.
const FlagSampled byte = 0x01

// SpanContext is what crosses a process boundary: the trace, the span that
// is the parent on the other side, the trace flags and the tracestate.
type SpanContext struct {
	TraceID TraceID
	SpanID  SpanID
	Flags   byte
	// State is the W3C tracestate, passed on as received ("" for none).
	State string
	// Remote reports that the context came from another process.
	Remote bool
}

// IsValid reports whether both ids are set.
func (sc SpanContext) IsValid() bool { return sc.TraceID.IsValid() && sc.SpanID.IsValid() }

// Sampled reports whether the sampled flag is set.
func (sc SpanContext) Sampled() bool { return sc.Flags&FlagSampled != 0 }

// errTraceparent is wrapped by every error ParseTraceparent returns.
var errTraceparent = errors.New("invalid traceparent")

// ParseTraceparent reads a W3C traceparent value
// ("00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"). As the W3C
// recommendation asks, a version above 00 (but not ff) is read by its
// version-00 fields when what follows them starts with '-'; ids and
// version must be lowercase hex, and all-zero ids are invalid.
func ParseTraceparent(s string) (SpanContext, error) {
	var sc SpanContext
	const n = 55
	if len(s) < n {
		return sc, errTraceparent
	}
	ver, ok := hexByte(s[0:2])
	if !ok || ver == 0xff || s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return sc, errTraceparent
	}
	if ver == 0 && len(s) != n {
		return sc, errTraceparent
	}
	if len(s) > n && s[n] != '-' {
		return sc, errTraceparent
	}
	if !lowerHex(s[3:35]) || !lowerHex(s[36:52]) || !lowerHex(s[53:55]) {
		return sc, errTraceparent
	}
	_, _ = hex.Decode(sc.TraceID[:], []byte(s[3:35]))
	_, _ = hex.Decode(sc.SpanID[:], []byte(s[36:52]))
	sc.Flags, _ = hexByte(s[53:55])
	if !sc.IsValid() {
		return SpanContext{}, errTraceparent
	}
	sc.Remote = true
	return sc, nil
}

// Traceparent formats sc as a version-00 traceparent. Only the sampled
// flag is kept: the other bits have no meaning in version 00.
func (sc SpanContext) Traceparent() string {
	var b [55]byte
	b[0], b[1], b[2] = '0', '0', '-'
	hex.Encode(b[3:35], sc.TraceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], sc.SpanID[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{sc.Flags & FlagSampled})
	return string(b[:])
}

func hexByte(s string) (byte, bool) {
	if len(s) != 2 || !lowerHex(s) {
		return 0, false
	}
	var b [1]byte
	_, _ = hex.Decode(b[:], []byte(s))
	return b[0], true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ValidTracestate reports whether s is a W3C tracestate a vendor may pass
// on: at most 32 comma-separated list members, each key=value with a key
// of the W3C grammar (lowercase, digits, _-*/, optionally tenant@system)
// and a value of printable ASCII without ',' or '=' not ending in a space,
// and no key twice. Empty members (",,", surrounding spaces) are allowed.
func ValidTracestate(s string) bool {
	if len(s) > 8192 {
		return false
	}
	seen := make(map[string]bool, 4)
	members := 0
	for m := range strings.SplitSeq(s, ",") {
		m = strings.Trim(m, " \t")
		if m == "" {
			continue
		}
		members++
		if members > 32 {
			return false
		}
		k, v, ok := strings.Cut(m, "=")
		if !ok || !validKey(k) || !validValue(v) || seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

func validKey(k string) bool {
	tenant, system, multi := strings.Cut(k, "@")
	if !multi {
		return len(k) <= 256 && keyChars(k, true)
	}
	return len(tenant) <= 241 && len(system) <= 14 && keyChars(tenant, false) && keyChars(system, true)
}

// keyChars checks a key part: lcalpha or (for a tenant) a digit first, then
// lcalpha, digits, _ - * /.
func keyChars(s string, alphaFirst bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		lower, digit := c >= 'a' && c <= 'z', c >= '0' && c <= '9'
		if i == 0 && !lower && (alphaFirst || !digit) {
			return false
		}
		if !lower && !digit && c != '_' && c != '-' && c != '*' && c != '/' {
			return false
		}
	}
	return true
}

func validValue(v string) bool {
	if v == "" || len(v) > 256 || v[len(v)-1] == ' ' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c > 0x7e || c == ',' || c == '=' {
			return false
		}
	}
	return true
}
