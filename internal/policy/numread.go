package policy

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/tollgate-mcp/tollgate/internal/decimal"
)

// Servers do not all read a number the way its JSON text says. Most
// (JavaScript, Python, anything that decodes into a float64) read the nearest
// double, and many coerce numeric strings ("1e3" → 1000). A condition that
// compares numbers therefore decides as the strictest of these readings:
//
//	exact        the JSON number's exact decimal value
//	double       the nearest float64, as the shortest decimal that reads
//	             back as it (what JavaScript and Python print), or ±Infinity
//	text         a string as itself (never a number)
//	spelled      the number a numeric string spells, exactly and as a double
//
// A numeric string is what at least one of JavaScript's Number(), Python's
// float()/int() or Go's strconv.ParseFloat accepts: surrounding Unicode
// white space is ignored, an optional sign, then decimal digits (any Unicode
// decimal digits, with "_" between digits) with an optional fraction
// (".5" and "5." too) and exponent; or a 0x/0o/0b integer; or
// Infinity/inf/nan in any case. An empty or all-space string reads as 0
// (JavaScript's Number("")). Prefix readers such as parseInt("12abc") are
// not followed: constrain such arguments with regex.

// maxNumberText bounds the length of a number (or numeric string) read
// exactly: math/big's decimal parsing is quadratic, and no real amount has a
// thousand digits. A longer one cannot be judged (fail closed).
const maxNumberText = 1000

type numClass uint8

const (
	finite numClass = iota
	posInf
	negInf
	notANumber
	unreadable
)

// numValue is one numeric reading.
type numValue struct {
	class numClass
	d     decimal.Decimal
}

// numReadings is how a value reads as a number: exactly and as a double.
type numReadings struct {
	text   bool // the value is a string (it also reads as itself)
	exact  numValue
	double numValue
	same   bool // the double reading is the exact value
}

// readNumber fills r with v's numeric readings and reports whether v has
// any: v is a JSON number, or a numeric string.
func readNumber(v any, r *numReadings) bool {
	switch x := v.(type) {
	case json.Number:
		r.text = false
		readLiteral(string(x), r)
		return true
	case string:
		r.text = true
		return readSpelled(x, r)
	case *decimal.Decimal:
		r.text = false
		r.exact.class = finite
		r.exact.d = *x
		r.same = true
		return true
	}
	return false
}

// readLiteral reads a number in JSON (or normalised ASCII) syntax.
func readLiteral(lit string, r *numReadings) {
	r.same = false
	r.exact.class, r.double.class = finite, finite
	if len(lit) > maxNumberText {
		r.exact.class, r.double.class = unreadable, unreadable
		return
	}
	var err error
	if r.exact.d, err = decimal.Parse(lit); err != nil {
		r.exact.class = unreadable
	}
	if smallInteger(lit) {
		r.same = true
		return
	}
	f, err := strconv.ParseFloat(lit, 64)
	switch {
	case math.IsInf(f, 1):
		r.double.class = posInf
		return
	case math.IsInf(f, -1):
		r.double.class = negInf
		return
	case err != nil:
		r.double.class = unreadable
		return
	}
	var buf [32]byte
	short := strconv.AppendFloat(buf[:0], f, 'g', -1, 64)
	if string(short) == lit && r.exact.class == finite {
		r.same = true
		return
	}
	if r.double.d, err = decimal.Parse(string(short)); err != nil {
		r.double.class = unreadable
		return
	}
	if r.exact.class == finite && r.double.d.Cmp(&r.exact.d) == 0 {
		r.same = true
	}
}

// smallInteger reports whether lit is an integer of at most 15 digits,
// which a double holds exactly.
func smallInteger(lit string) bool {
	s := strings.TrimPrefix(lit, "-")
	if len(s) == 0 || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// readSpelled reads a numeric string (see the package comment above for
// the set); it reports false for any other string.
func readSpelled(s string, r *numReadings) bool {
	if len(s) > 0 && len(s) < 64 && s[0] >= 'a' && s[0] <= 'z' && s[0] != 'i' && s[0] != 'n' {
		return false // the common case: a word
	}
	t := strings.TrimFunc(s, isSpace)
	if t == "" {
		readLiteral("0", r)
		return true
	}
	sign, body := "", t
	if body[0] == '+' || body[0] == '-' {
		sign, body = body[:1], body[1:]
	}
	switch strings.ToLower(body) {
	case "inf", "infinity":
		r.same = true
		r.exact.class = posInf
		if sign == "-" {
			r.exact.class = negInf
		}
		return true
	case "nan":
		r.same = true
		r.exact.class = notANumber
		return true
	}
	if len(body) > 2 && body[0] == '0' && strings.ContainsRune("xXoObB", rune(body[1])) {
		if strings.ContainsAny(body, "pP") || strings.ContainsRune(body, '.') {
			// A Go hexadecimal float: read it as strconv does.
			f, err := strconv.ParseFloat(sign+body, 64)
			if err != nil && !math.IsInf(f, 0) {
				return false
			}
			readLiteral(strconv.FormatFloat(f, 'g', -1, 64), r)
			return true
		}
		var bi big.Int
		if len(body) > maxNumberText {
			r.same, r.exact.class = true, unreadable
			return true
		}
		if _, ok := bi.SetString(sign+body, 0); !ok {
			return false
		}
		readLiteral(bi.String(), r)
		return true
	}
	lit, ok := asciiDecimal(sign, body)
	if !ok {
		return false
	}
	readLiteral(lit, r)
	return true
}

// isSpace is white space as JavaScript's trim and Python's strip see it.
func isSpace(r rune) bool { return unicode.IsSpace(r) || r == '\uFEFF' }

// asciiDecimal turns digits (any Unicode decimal digits, "_" between
// digits), an optional fraction and an optional exponent into a plain
// ASCII decimal literal.
func asciiDecimal(sign, body string) (string, bool) {
	var b strings.Builder
	b.Grow(len(body) + 2)
	b.WriteString(sign)
	digits, prevDigit, seenPoint, seenExp, expDigits := 0, false, false, false, 0
	for i, ch := range body {
		switch {
		case ch == '_':
			if !prevDigit || i+1 >= len(body) {
				return "", false
			}
			next, _ := utf8.DecodeRuneInString(body[i+1:])
			if digitValue(next) < 0 {
				return "", false
			}
			continue
		case digitValue(ch) >= 0:
			b.WriteByte(byte('0' + digitValue(ch)))
			prevDigit = true
			if seenExp {
				expDigits++
			} else {
				digits++
			}
			continue
		case ch == '.' && !seenPoint && !seenExp:
			if digits == 0 {
				b.WriteByte('0')
			}
			seenPoint = true
			b.WriteByte('.')
		case (ch == 'e' || ch == 'E') && !seenExp && digits > 0:
			seenExp = true
			if strings.HasSuffix(b.String(), ".") {
				b.WriteByte('0')
			}
			b.WriteByte('e')
			if i+1 < len(body) && (body[i+1] == '+' || body[i+1] == '-') {
				continue // the sign is written next
			}
		case (ch == '+' || ch == '-') && seenExp && expDigits == 0 && strings.HasSuffix(b.String(), "e"):
			b.WriteRune(ch)
		default:
			return "", false
		}
		prevDigit = false
	}
	if digits == 0 || seenExp && expDigits == 0 {
		return "", false
	}
	out := b.String()
	if strings.HasSuffix(out, ".") {
		out += "0"
	}
	return out, true
}

// digitValue returns the value of a Unicode decimal digit, or -1. Every
// range of the Nd table starts at a zero and runs in tens.
func digitValue(r rune) int {
	if r >= '0' && r <= '9' {
		return int(r - '0')
	}
	if r < utf8.RuneSelf || !unicode.IsDigit(r) {
		return -1
	}
	for _, rg := range unicode.Nd.R16 {
		if uint16(r) >= rg.Lo && uint16(r) <= rg.Hi && r <= 0xFFFF {
			return int(uint16(r)-rg.Lo) % 10
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if uint32(r) >= rg.Lo && uint32(r) <= rg.Hi {
			return int(uint32(r)-rg.Lo) % 10
		}
	}
	return -1
}

// cmpNum compares a reading with a finite policy number: -1, 0, +1, or ok
// false when the reading cannot be compared (NaN, unreadable).
func cmpNum(v *numValue, limit *decimal.Decimal) (int, bool) {
	switch v.class {
	case finite:
		return v.d.Cmp(limit), true
	case posInf:
		return 1, true
	case negInf:
		return -1, true
	}
	return 0, false
}

// numEqual compares two readings: ok false when either cannot be judged.
func numEqual(a, b *numValue) (eq, ok bool) {
	if a.class == unreadable || b.class == unreadable {
		return false, false
	}
	if a.class != finite || b.class != finite {
		return a.class == b.class && a.class != notANumber, true
	}
	return a.d.Cmp(&b.d) == 0, true
}

// count is how many numeric readings r has (1 or 2).
func (r *numReadings) count() int {
	if r.same {
		return 1
	}
	return 2
}

// at returns reading i (0: exact, 1: double) and its kind.
func (r *numReadings) at(i int) (*numValue, readKind) {
	ek, dk := readExact, readDouble
	if r.text {
		ek, dk = readSpelledExact, readSpelledDouble
	}
	if i == 0 {
		return &r.exact, ek
	}
	return &r.double, dk
}

// readKind names a reading for explanations.
type readKind uint8

const (
	readExact readKind = iota
	readDouble
	readSpelledExact
	readSpelledDouble
)

// describe says how a value was read, e.g. `"1e3" read as the number 1000`.
func describeReading(path string, v any, kind readKind, n *numValue) string {
	var val string
	switch n.class {
	case finite:
		val = n.d.Text('f')
		if n.d.Exponent() < -20 || n.d.Exponent() > 20 {
			val = n.d.Text('g')
		}
	case posInf:
		val = "Infinity"
	case negInf:
		val = "-Infinity"
	case notANumber:
		val = "NaN"
	default:
		val = "an unreadable number"
	}
	what := "the number"
	if kind == readDouble || kind == readSpelledDouble {
		what = "the double"
	}
	return path + " = " + truncate(jsonText(v), 60) + " read as " + what + " " + val
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
