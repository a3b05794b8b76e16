package otel

import (
	"strings"
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc, err := ParseTraceparent(valid)
	if err != nil {
		t.Fatal(err)
	}
	if sc.TraceID.String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID.String() != "00f067aa0ba902b7" || !sc.Sampled() || !sc.Remote {
		t.Errorf("parsed %+v", sc)
	}
	if got := sc.Traceparent(); got != valid {
		t.Errorf("formatted %q, want %q", got, valid)
	}
	// A later version is read by its version-00 fields and written as 00.
	sc, err = ParseTraceparent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-follows")
	if err != nil {
		t.Fatalf("future version: %v", err)
	}
	if got := sc.Traceparent(); got != valid {
		t.Errorf("future version formatted %q, want %q (unknown flags dropped)", got, valid)
	}
	sc, _ = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	if sc.Sampled() {
		t.Error("flags 00 read as sampled")
	}

	for name, bad := range map[string]string{
		"empty":              "",
		"short":              valid[:54],
		"long version 00":    valid + "-",
		"version ff":         "ff" + valid[2:],
		"upper hex":          strings.ToUpper(valid),
		"zero trace id":      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"zero span id":       "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"bad separator":      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"not hex":            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
		"future no dash":     "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
		"bad flags":          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
		"version not hex":    "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"spaces":             " " + valid[1:],
		"trailing newline":   valid + "\n",
		"unicode in id":      "00-4bf92f3577b34da6a3ce929d0e0e47é-00f067aa0ba902b7-01",
		"short span id":      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902-0001",
		"trace id too short": "00-4bf92f3577b34da6a3ce929d0e0e47-3600f067aa0ba902b7-01",
	} {
		if sc, err := ParseTraceparent(bad); err == nil {
			t.Errorf("%s: %q parsed as %+v", name, bad, sc)
		}
	}
}

func TestValidTracestate(t *testing.T) {
	for _, ok := range []string{"", "rojo=00f067aa0ba902b7", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
		"t1@sys=v", "1tenant@vendor=x", " a=1 , b=2 ", "a=1,,b=2", "a/b*c_d-e=x y"} {
		if !ValidTracestate(ok) {
			t.Errorf("ValidTracestate(%q) = false", ok)
		}
	}
	for _, bad := range []string{"=v", "A=v", "a", "a=", "a=v\x7f", "a=1,a=2", "a=v=w", "a=\x01", "1a=v",
		"a@=v", "@b=v", "a@B=v", strings.Repeat("a=1,", 0) + manyMembers(33)} {
		if ValidTracestate(bad) {
			t.Errorf("ValidTracestate(%q) = true", bad)
		}
	}
}

func manyMembers(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("k")
		b.WriteByte(byte('a' + i%26))
		b.WriteByte(byte('a' + i/26))
		b.WriteString("=v")
	}
	return b.String()
}

// FuzzTraceparent: the parser never panics, and what it accepts it writes
// back as a version-00 value that reads as the same context.
func FuzzTraceparent(f *testing.F) {
	for _, s := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseTraceparent(s)
		if err != nil {
			return
		}
		if !sc.IsValid() {
			t.Fatalf("%q accepted with an invalid id: %+v", s, sc)
		}
		out := sc.Traceparent()
		if len(out) != 55 {
			t.Fatalf("%q formatted as %q", s, out)
		}
		again, err := ParseTraceparent(out)
		if err != nil || again.TraceID != sc.TraceID || again.SpanID != sc.SpanID || again.Sampled() != sc.Sampled() {
			t.Fatalf("%q → %q → %+v, %v", s, out, again, err)
		}
		// Version 00 comes back byte for byte but for flags other than
		// sampled, which a vendor sets to zero.
		if s[:2] == "00" && out[:53] != s[:53] {
			t.Fatalf("version 00 %q written back as %q", s, out)
		}
	})
}
