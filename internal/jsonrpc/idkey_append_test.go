package jsonrpc

import (
	"strconv"
	"testing"
)

func TestAppendIDKeyMatchesIDKey(t *testing.T) {
	ids := []string{`0`, `1`, `7`, `10`, `999999`, `1000000`, `1234567`, `00`, `01`, `-0`, `-1`, `1.0`, `1e0`, `1E2`,
		`100000`, `"1"`, `"a"`, `"\u0061"`, `null`, `true`, `9007199254740993`, `1.5`, `+1`, `0x1`, `""`, `"n1"`}
	for i := 0; i < 2_000_000; i += 997 {
		ids = append(ids, strconv.Itoa(i))
	}
	for _, id := range ids {
		if got, want := string(AppendIDKey([]byte("x"), []byte(id))), "x"+IDKey([]byte(id)); got != want {
			t.Errorf("AppendIDKey(%s) = %q, want %q", id, got, want)
		}
	}
}

func FuzzAppendIDKey(f *testing.F) {
	for _, s := range []string{`0`, `12`, `999999`, `1000000`, `"a"`, `01`, `-5`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if got, want := string(AppendIDKey(nil, raw)), IDKey(raw); got != want {
			t.Errorf("AppendIDKey(%q) = %q, IDKey %q", raw, got, want)
		}
	})
}

func BenchmarkIDKey(b *testing.B) {
	raw := []byte("4821")
	b.Run("IDKey", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = IDKey(raw)
		}
	})
	b.Run("AppendIDKey", func(b *testing.B) {
		b.ReportAllocs()
		var buf [32]byte
		for b.Loop() {
			_ = AppendIDKey(buf[:0], raw)
		}
	})
}
