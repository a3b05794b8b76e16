package decimal

// The tests hold this package to cockroachdb/apd, the library it replaced
// (a dependency of the tests only, not linked into tollgate): the same
// text is accepted, and the same values and representations result, for
// thousands of generated numbers and for whatever the fuzzer finds.

import (
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/cockroachdb/apd/v3"
)

// corpus is hand-picked edge cases and generated numbers: up to 39 digits,
// with and without a point, signs and exponents.
func corpus() []string {
	c := []string{"0", "-0", "0.00", "0E-3", "0e5", "1", "-1", "1.5", "1.50", "100", "1e2", "1E+2", "1e-7", "1.5e-7", "0.000001", "0.0000001",
		".5", "5.", "+5", "+.5", "-.5", "1e", "e5", "", ".", "-", "1.2.3", "1e+", "1e-", "Inf", "NaN", "Infinity", "1 ", " 1", "0x10", "1_0",
		"18446744073709551615", "18446744073709551616", "99999999999999999999999", "-123456789012345678901234567890.123",
		"1e2147483647", "1e2147483648", "1e-2147483648", "1e-2147483649", "0.1e-2147483648", "10e2147483647", "007", "00.100", "1e+0", "1e-0",
		"123456789e-15", "12345e-3", "1E-6", "1E-7", "12E-8", "0.00000012", "-0.0", "-0E+2", "5E+3", "1e99999", "-1e-99999", "1e0000000000000000000005",
		"9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809", "92233720368547758070e-1", "1e18", "1e19", "-1e19"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		var s string
		if r.IntN(2) == 0 {
			s += "-"
		}
		s += strconv.FormatUint(r.Uint64()>>r.IntN(64), 10)
		if r.IntN(4) == 0 {
			s += strconv.FormatUint(r.Uint64(), 10)
		}
		if r.IntN(3) == 0 {
			s += "0000000000000000000000"[:r.IntN(20)]
		}
		if r.IntN(2) == 0 {
			k := r.IntN(len(s) + 1)
			if k > 0 && s[k-1] == '-' {
				k = len(s)
			}
			s = s[:k] + "." + s[k:]
		}
		if r.IntN(2) == 0 {
			s += "e" + strconv.Itoa(r.IntN(60)-30)
		}
		c = append(c, s)
	}
	return c
}

func TestAgainstApd(t *testing.T) {
	cs := corpus()
	for i, s := range cs {
		for _, s2 := range []string{cs[(i*7+3)%len(cs)], cs[(i+1)%len(cs)], cs[(i*13+5)%len(cs)]} {
			compare(t, s, s2)
		}
	}
}

func FuzzAgainstApd(f *testing.F) {
	cs := corpus()
	for i := 0; i < len(cs); i += 50 {
		f.Add(cs[i], cs[(i+1)%len(cs)])
	}
	f.Fuzz(func(t *testing.T, s, s2 string) {
		if len(s) > 200 || len(s2) > 200 {
			return
		}
		compare(t, s, s2)
	})
}

// compare checks that this package and apd agree on s alone and on the
// pair s, s2.
func compare(t *testing.T, s, s2 string) {
	t.Helper()
	a, _, aerr := apd.NewFromString(s)
	d, derr := Parse(s)
	aok := aerr == nil && a.Form == apd.Finite
	if aok != (derr == nil) {
		t.Errorf("%q: apd ok %v (%v), ours %v", s, aok, aerr, derr)
		return
	}
	if !aok {
		return
	}
	for _, f := range []byte{'G', 'g', 'f'} {
		if f == 'f' && (a.Exponent > 100 || a.Exponent < -100) {
			continue
		}
		if x, y := a.Text(f), d.Text(f); x != y {
			t.Errorf("%q Text(%c): apd %s, ours %s", s, f, x, y)
		}
	}
	if a.NumDigits() != d.NumDigits() {
		t.Errorf("%q NumDigits: apd %d, ours %d", s, a.NumDigits(), d.NumDigits())
	}
	ai, aie := a.Int64()
	di, die := d.Int64()
	if (aie == nil) != (die == nil) || ai != di {
		t.Errorf("%q Int64: apd %d %v, ours %d %v", s, ai, aie, di, die)
	}
	var ar apd.Decimal
	ar.Reduce(a)
	var dr Decimal
	dr.Reduce(&d)
	if ar.String() != dr.String() {
		t.Errorf("%q Reduce: apd %s, ours %s", s, ar.String(), dr.String())
	}

	b, _, berr := apd.NewFromString(s2)
	e, eerr := Parse(s2)
	if berr != nil || eerr != nil || b.Form != apd.Finite {
		return
	}
	if a.Cmp(b) != d.Cmp(&e) {
		t.Errorf("%q cmp %q: apd %d, ours %d", s, s2, a.Cmp(b), d.Cmp(&e))
	}
	if diff := int64(a.Exponent) - int64(b.Exponent); diff > 200 || diff < -200 {
		return // a sum's coefficient would have the difference's digits
	}
	ctx := apd.BaseContext.WithPrecision(0)
	var sum, diff, prod apd.Decimal
	_, serr := ctx.Add(&sum, a, b)
	_, derr2 := ctx.Sub(&diff, a, b)
	_, perr := ctx.Mul(&prod, a, b)
	var S, D, P Decimal
	S.Add(&d, &e)
	D.Sub(&d, &e)
	_, merr := P.Mul(&d, &e)
	if serr == nil && sum.String() != S.String() {
		t.Errorf("%q + %q: apd %s, ours %s", s, s2, sum.String(), S.String())
	}
	if derr2 == nil && diff.String() != D.String() {
		t.Errorf("%q - %q: apd %s, ours %s", s, s2, diff.String(), D.String())
	}
	if perr == nil && merr == nil && prod.String() != P.String() {
		t.Errorf("%q × %q: apd %s, ours %s", s, s2, prod.String(), P.String())
	}
}

// TestCopiesAreIndependent: a copy of a decimal with a large coefficient
// shares it, so no operation may change a coefficient in place.
func TestCopiesAreIndependent(t *testing.T) {
	x, err := Parse("123456789012345678901234567890")
	if err != nil {
		t.Fatal(err)
	}
	orig := x.String()
	y := x
	one := NewFromInt64(1)
	y.Add(&y, &one)
	y.Sub(&y, &one)
	y.Add(&y, &x)
	if _, err := y.Mul(&y, &x); err != nil {
		t.Fatal(err)
	}
	y.Reduce(&y)
	z := x
	z.Reduce(&z)
	if got := x.String(); got != orig {
		t.Errorf("x = %s after operations on copies, want %s", got, orig)
	}
	if want := "30483157506477673500990703125072397575003810399750038104200"; y.Text('f') != want {
		t.Errorf("2x·x = %s, want %s", y.Text('f'), want)
	}
}

// TestHugeExponentsCompareCheaply: comparing numbers whose exponents are
// far apart decides by the leading digit's position without scaling.
func TestHugeExponentsCompareCheaply(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1e99999", "9e99998", 1},
		{"1e-99999", "1e99999", -1},
		{"-1e99999", "1", -1},
		{"123e99990", "1.23e99992", 0},
		{"0e99999", "-0e-99999", 0},
	} {
		a, _ := Parse(tc.a)
		b, _ := Parse(tc.b)
		allocs := testing.AllocsPerRun(10, func() {
			if got := a.Cmp(&b); got != tc.want {
				t.Errorf("Cmp(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
		})
		if allocs > 4 {
			t.Errorf("Cmp(%s, %s) allocated %v times: it scaled", tc.a, tc.b, allocs)
		}
	}
}

func BenchmarkAmount(b *testing.B) {
	b.ReportAllocs()
	limit, _ := Parse("100.00")
	var total Decimal
	for b.Loop() {
		d, err := Parse("12.5")
		if err != nil {
			b.Fatal(err)
		}
		total.Add(&total, &d)
		if total.Cmp(&limit) > 0 {
			total = Decimal{}
		}
	}
}

func BenchmarkAmountApd(b *testing.B) {
	b.ReportAllocs()
	ctx := apd.BaseContext.WithPrecision(0)
	limit, _, _ := apd.NewFromString("100.00")
	var total apd.Decimal
	for b.Loop() {
		var d apd.Decimal
		if _, _, err := d.SetString("12.5"); err != nil {
			b.Fatal(err)
		}
		if _, err := ctx.Add(&total, &total, &d); err != nil {
			b.Fatal(err)
		}
		if total.Cmp(limit) > 0 {
			total = apd.Decimal{}
		}
	}
}
