// Package decimal is exact decimal arithmetic for policy numbers and counter
// amounts: parse, compare, add, subtract, multiply and format, never rounding.
//
// A Decimal is (-1)^neg × coefficient × 10^exponent, and keeps the
// representation it was written in: 1.50 has coefficient 150 and exponent
// -2, and is equal to, but not identical with, 1.5. Sums take the smaller
// exponent of their operands, so 0.1 + 0.2 is 0.3 and totals never drift.
// This follows the General Decimal Arithmetic specification's rules for
// exact operations and its to-scientific-string format, so text written by
// earlier versions (which used cockroachdb/apd) reads back the same.
//
// Why not a library: apd, the well-kept choice, computes 565 KB of tables
// in its package initialiser, about a millisecond of every start-up of a
// process whose budget for all its start-up work is five (see
// docs/performance.md). This package keeps coefficients up to 2^64-1 in a
// machine word and larger ones in a math/big.Int, and has no initialiser.
//
// The zero value is 0. Decimals are values: a copy is independent of the
// original (a large coefficient is never modified once made, so copies may
// share it). Nothing here bounds the size of a result: the cost of Add and
// Sub grows with the difference of the operands' exponents, so callers that
// take numbers from untrusted input bound their magnitude first.
package decimal

import (
	"errors"
	"math"
	"math/big"
	"math/bits"
	"strconv"
)

// Decimal is an exact decimal number. See the package comment.
type Decimal struct {
	big *big.Int // the coefficient when it exceeds 2^64-1, else nil; never modified
	c   uint64   // the coefficient when big is nil
	exp int32
	neg bool
}

// ErrSyntax is returned by Parse for text that is not a finite decimal.
var ErrSyntax = errors.New("not a finite decimal number")

// ErrRange is returned by Parse for a number whose exponent, as written or
// adjusted (the exponent of its leading digit), lies beyond ±MaxExponent,
// and by Mul for a product whose exponent does not fit in 32 bits.
var ErrRange = errors.New("decimal exponent out of range")

// MaxExponent bounds the exponents Parse accepts: 10^100000 is far beyond
// any amount and keeps the arithmetic on parsed numbers bounded. It is the
// bound of cockroachdb/apd, which earlier versions used.
const MaxExponent = 100000

// New returns coefficient × 10^exponent.
func New(coefficient uint64, exponent int32) Decimal {
	return Decimal{c: coefficient, exp: exponent}
}

// NewFromInt64 returns i (exponent 0).
func NewFromInt64(i int64) Decimal {
	if i < 0 {
		return Decimal{c: uint64(-(i + 1)) + 1, neg: true}
	}
	return Decimal{c: uint64(i)}
}

// NewFromBig returns i × 10^exponent; i is copied.
func NewFromBig(i *big.Int, exponent int32) Decimal {
	d := Decimal{exp: exponent, neg: i.Sign() < 0}
	d.setMag(new(big.Int).Abs(i))
	return d
}

// setMag sets d's coefficient to m (m >= 0), which d may keep.
func (d *Decimal) setMag(m *big.Int) {
	if m.IsUint64() {
		d.big, d.c = nil, m.Uint64()
		return
	}
	d.big, d.c = m, 0
}

// mag returns d's coefficient as a big.Int that the caller must not modify.
func (d *Decimal) mag() *big.Int {
	if d.big != nil {
		return d.big
	}
	return new(big.Int).SetUint64(d.c)
}

// Parse reads s: an optional sign, digits with at most one decimal point
// (at least one digit in all), and an optional exponent (e or E, an
// optional sign, digits). Infinities and NaNs are not decimals here.
func Parse(s string) (Decimal, error) {
	var d Decimal
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		d.neg = s[i] == '-'
		i++
	}
	start, digits, frac, point := i, 0, 0, false
	small := true
	for ; i < len(s); i++ {
		ch := s[i]
		if ch == '.' {
			if point {
				return Decimal{}, ErrSyntax
			}
			point = true
			continue
		}
		if ch < '0' || ch > '9' {
			break
		}
		digits++
		if point {
			frac++
		}
		if small {
			hi, lo := bits.Mul64(d.c, 10)
			lo, carry := bits.Add64(lo, uint64(ch-'0'), 0)
			if hi != 0 || carry != 0 {
				small = false
			} else {
				d.c = lo
			}
		}
	}
	if digits == 0 {
		return Decimal{}, ErrSyntax
	}
	end := i
	var exp int64
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return Decimal{}, ErrSyntax
		}
		for ; i < len(s); i++ {
			ch := s[i]
			if ch < '0' || ch > '9' {
				return Decimal{}, ErrSyntax
			}
			if exp <= MaxExponent {
				exp = exp*10 + int64(ch-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return Decimal{}, ErrSyntax
	}
	if exp > MaxExponent || exp < -MaxExponent || frac > MaxExponent {
		return Decimal{}, ErrRange
	}
	exp -= int64(frac)
	d.exp = int32(exp)
	if !small {
		b := make([]byte, 0, digits)
		for j := start; j < end; j++ {
			if s[j] != '.' {
				b = append(b, s[j])
			}
		}
		m, ok := new(big.Int).SetString(string(b), 10)
		if !ok {
			return Decimal{}, ErrSyntax
		}
		d.setMag(m)
	}
	if adj := d.adjusted(); adj > MaxExponent || adj < -MaxExponent {
		return Decimal{}, ErrRange
	}
	return d, nil
}

// Exponent is d's exponent: d is its coefficient × 10^Exponent.
func (d *Decimal) Exponent() int32 { return d.exp }

// Uint64Coefficient returns d's coefficient when it fits in a uint64.
func (d *Decimal) Uint64Coefficient() (uint64, bool) { return d.c, d.big == nil }

// Sign is -1, 0 or +1. Negative zero (from the text "-0") has sign 0.
func (d *Decimal) Sign() int {
	switch {
	case d.IsZero():
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// IsZero reports whether d is zero, whatever its sign and exponent.
func (d *Decimal) IsZero() bool { return d.big == nil && d.c == 0 }

// pow10 holds 10^0 to 10^19, every power of ten a uint64 holds.
var pow10 = [...]uint64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}

// NumDigits is the number of decimal digits of d's coefficient (1 for 0).
func (d *Decimal) NumDigits() int64 {
	if d.big != nil {
		// Exact from the bit length up to one digit; settle that digit.
		n := int64(float64(d.big.BitLen()-1) * math.Log10(2))
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(n), nil)
		for p.Cmp(d.big) <= 0 {
			n++
			p.Mul(p, big.NewInt(10))
		}
		return n
	}
	n := int64(1)
	for n < int64(len(pow10)) && d.c >= pow10[n] {
		n++
	}
	return n
}

// adjusted is the exponent of d's leading digit.
func (d *Decimal) adjusted() int64 { return int64(d.exp) + d.NumDigits() - 1 }

// Cmp compares d and y by value: -1 if d < y, 0 if equal, +1 if d > y.
// Representations do not matter (1.5 equals 1.50; 0 equals -0), nor does
// the size of the exponents: 1e-2000000000 is compared without scaling.
func (d *Decimal) Cmp(y *Decimal) int {
	sx, sy := d.Sign(), y.Sign()
	switch {
	case sx < sy:
		return -1
	case sx > sy:
		return 1
	case sx == 0:
		return 0
	}
	r := cmpAbs(d, y)
	if sx < 0 {
		r = -r
	}
	return r
}

// cmpAbs compares the magnitudes of nonzero x and y.
func cmpAbs(x, y *Decimal) int {
	if x.exp == y.exp {
		return cmpCoeff(x, y)
	}
	ax, ay := x.adjusted(), y.adjusted()
	switch {
	case ax < ay:
		return -1
	case ax > ay:
		return 1
	}
	// Same leading digit position: the exponents differ by less than the
	// longer coefficient's length, so scaling is bounded by it.
	if x.exp > y.exp {
		xs := scaled(x, uint64(int64(x.exp)-int64(y.exp)))
		return cmpCoeff(&xs, y)
	}
	ys := scaled(y, uint64(int64(y.exp)-int64(x.exp)))
	return cmpCoeff(x, &ys)
}

// cmpCoeff compares the coefficients of x and y.
func cmpCoeff(x, y *Decimal) int {
	if x.big == nil && y.big == nil {
		switch {
		case x.c < y.c:
			return -1
		case x.c > y.c:
			return 1
		}
		return 0
	}
	return x.mag().Cmp(y.mag())
}

// scaled returns d's magnitude times 10^k, with exponent d.exp-k.
func scaled(d *Decimal, k uint64) Decimal {
	r := Decimal{exp: int32(int64(d.exp) - int64(k))}
	if d.big == nil && k < uint64(len(pow10)) {
		if hi, lo := bits.Mul64(d.c, pow10[k]); hi == 0 {
			r.c = lo
			return r
		}
	}
	p := new(big.Int).Exp(big.NewInt(10), new(big.Int).SetUint64(k), nil)
	r.setMag(p.Mul(p, d.mag()))
	return r
}

// Add sets d = x + y exactly, with the smaller of their exponents, and
// returns d. d may be x or y.
func (d *Decimal) Add(x, y *Decimal) *Decimal {
	return d.add(x, y, y.neg)
}

// Sub sets d = x - y exactly, with the smaller of their exponents, and
// returns d. d may be x or y.
func (d *Decimal) Sub(x, y *Decimal) *Decimal {
	return d.add(x, y, !y.neg)
}

// add sets d = x + (y's magnitude with sign yneg).
func (d *Decimal) add(x, y *Decimal, yneg bool) *Decimal {
	// Align to the smaller exponent: scale the other operand up.
	a, b := x, y
	var scaledOne Decimal
	if a.exp > b.exp {
		scaledOne = scaled(a, uint64(int64(a.exp)-int64(b.exp)))
		a = &scaledOne
	} else if b.exp > a.exp {
		scaledOne = scaled(b, uint64(int64(b.exp)-int64(a.exp)))
		b = &scaledOne
	}
	xneg := x.neg
	r := Decimal{exp: a.exp}
	small := a.big == nil && b.big == nil
	if small {
		switch {
		case xneg == yneg:
			var carry uint64
			r.c, carry = bits.Add64(a.c, b.c, 0)
			r.neg, small = xneg, carry == 0
		case a.c >= b.c:
			r.c, r.neg = a.c-b.c, xneg
		default:
			r.c, r.neg = b.c-a.c, yneg
		}
	}
	if !small {
		sa, sb := new(big.Int).Set(a.mag()), new(big.Int).Set(b.mag())
		if xneg {
			sa.Neg(sa)
		}
		if yneg {
			sb.Neg(sb)
		}
		sa.Add(sa, sb)
		r.neg = sa.Sign() < 0
		r.setMag(sa.Abs(sa))
	}
	if r.IsZero() {
		r.neg = xneg && yneg // a zero sum is negative only when both were
	}
	*d = r
	return d
}

// Mul sets d = x × y exactly and returns d; its exponent is the sum of
// theirs. It fails only when that sum does not fit in 32 bits.
func (d *Decimal) Mul(x, y *Decimal) (*Decimal, error) {
	exp := int64(x.exp) + int64(y.exp)
	if exp < math.MinInt32 || exp > math.MaxInt32 {
		return d, ErrRange
	}
	r := Decimal{exp: int32(exp), neg: x.neg != y.neg}
	if x.big == nil && y.big == nil {
		if hi, lo := bits.Mul64(x.c, y.c); hi == 0 {
			r.c = lo
			*d = r
			return d, nil
		}
	}
	r.setMag(new(big.Int).Mul(x.mag(), y.mag()))
	*d = r
	return d, nil
}

// Reduce sets d to x without trailing zeros in its coefficient (exponent 0
// for zero) and returns d.
func (d *Decimal) Reduce(x *Decimal) *Decimal {
	r := *x
	if r.IsZero() {
		*d = Decimal{}
		return d
	}
	if r.big != nil {
		m, q, rem := new(big.Int).Set(r.big), new(big.Int), new(big.Int)
		ten := big.NewInt(10)
		for r.exp < math.MaxInt32 {
			q.QuoRem(m, ten, rem)
			if rem.Sign() != 0 {
				break
			}
			m, q = q, m
			r.exp++
		}
		r.setMag(m)
	}
	for r.big == nil && r.c%10 == 0 && r.exp < math.MaxInt32 {
		r.c /= 10
		r.exp++
	}
	*d = r
	return d
}

// Int64 returns d as an int64 when it is an integer that fits.
func (d *Decimal) Int64() (int64, error) {
	var r Decimal
	r.Reduce(d)
	if r.exp < 0 {
		return 0, errors.New("decimal: not an integer")
	}
	if r.IsZero() {
		return 0, nil
	}
	if r.big != nil || r.exp >= int32(len(pow10)) {
		return 0, errors.New("decimal: out of the range of int64")
	}
	hi, m := bits.Mul64(r.c, pow10[r.exp])
	switch {
	case hi != 0 || m > 1<<63 || m == 1<<63 && !r.neg:
		return 0, errors.New("decimal: out of the range of int64")
	case r.neg:
		return -int64(m-1) - 1, nil
	}
	return int64(m), nil
}

// String formats d in scientific notation when its exponent is positive or
// its leading digit lies more than six places after the point ("1E+2",
// "1.5E-7"), plainly otherwise ("100", "0.0015"): Text('G').
func (d *Decimal) String() string { return d.Text('G') }

// Text formats d: 'f' plainly, without an exponent; 'g' and 'G' as String
// does, with a lower- or upper-case E. Any other format gives "%" and it.
func (d *Decimal) Text(format byte) string {
	var buf [24]byte
	return string(d.Append(buf[:0], format))
}

// Append appends d formatted as Text(format) does to buf.
func (d *Decimal) Append(buf []byte, format byte) []byte {
	var scratch [20]byte
	var digits []byte
	if d.big != nil {
		digits = d.big.Append(scratch[:0], 10)
	} else {
		digits = strconv.AppendUint(scratch[:0], d.c, 10)
	}
	switch format {
	case 'f':
	case 'g', 'G':
		n := len(digits)
		if d.IsZero() && d.exp < 0 && d.exp >= -2000 {
			// A zero with places, 0E-3, is written with them: 0.000.
			n += int(-d.exp)
		}
		if adj := int64(d.exp) + int64(n) - 1; d.exp > 0 || adj < -6 {
			return appendE(sign(buf, d), format+'e'-'g', d.exp, digits)
		}
	default:
		return append(buf, '%', format)
	}
	return appendF(sign(buf, d), d.exp, digits)
}

func sign(buf []byte, d *Decimal) []byte {
	if d.neg {
		return append(buf, '-')
	}
	return buf
}

func appendE(buf []byte, e byte, exp int32, digits []byte) []byte {
	adj := int64(exp) + int64(len(digits)) - 1
	buf = append(buf, digits[0])
	if len(digits) > 1 {
		buf = append(buf, '.')
		buf = append(buf, digits[1:]...)
	}
	buf = append(buf, e)
	if adj < 0 {
		buf = append(buf, '-')
		adj = -adj
	} else {
		buf = append(buf, '+')
	}
	return strconv.AppendInt(buf, adj, 10)
}

func appendF(buf []byte, exp int32, digits []byte) []byte {
	if exp >= 0 {
		buf = append(buf, digits...)
		for range exp {
			buf = append(buf, '0')
		}
		return buf
	}
	if left := -int(exp) - len(digits); left >= 0 {
		buf = append(buf, "0."...)
		for range left {
			buf = append(buf, '0')
		}
		return append(buf, digits...)
	}
	point := len(digits) + int(exp)
	buf = append(buf, digits[:point]...)
	buf = append(buf, '.')
	return append(buf, digits[point:]...)
}
