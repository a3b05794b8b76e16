package canonjson

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
)

// canonicalSeeds are inputs the scanner must treat exactly as
// canonicalTree: the shapes arguments take, and every corner where the
// scanner hands over to canonicalTree.
var canonicalSeeds = []string{
	``, ` `, "\t\r\n ", `{}`, `[]`, `null`, `true`, `false`, `0`, `-0`, `"s"`,
	`{"a":1,"b":{"y":2,"x":[1,2]}}`, `{ "b": {"x":[1, 2], "y":2.0}, "a": 1e0 }`,
	`{"amount":0.50}`, `{"amount":5e-1}`, `{"n":-0}`, `{"n":0.000}`, `{"n":-0.0e5}`,
	`{"s":"<&>\u00e9"}`, `{"s":"<&>é"}`, `{"a":"1"}`, `{"a":100000000000000000001}`,
	`[1e20,1e21,1E+21,0.000001,0.0000001,123456789012345678901234,1.5e-10,-12.340,100e-2,1e-1099511627776,1e1099511627776]`,
	`[1e1099511627777,1e-1099511627777,1e99999999999999999999]`,
	`{"b":1,"a":2,"b":3}`, `{"a":{"x":1},"a":[2]}`, `{"":1,"\u0000":2,"a\u0000":3,"a":4}`,
	`{"a\"":1,"a#":2,"a\\":3}`, `{"\u00e9":1,"e":2,"\ud83d\ude00":3,"\uffff":4}`,
	`{"aaaaaaaab":1,"aaaaaaaa":2,"aaaaaaaaa":3,"aaaaaaa":4}`,
	`["\b\f\n\r\t\/\\\"","\u0001\u001f\u007f","\u2028\u2029"," "]`,
	`"\ud800"`, `"\udc00"`, `"\ud800\u0041"`, `"\ud800\ud800"`, `"\ud83d\ude00"`, `"\uD83D\uDE00"`,
	"\"\xff\"", "\"\xc3\"", "{\"\xff\":1}", "\"a\x01\"", "\"\u2028\"",
	`{"a":1}{"b":2}`, `{"a":1} x`, `{"a":1,}`, `[1,]`, `[1 2]`, `{"a" 1}`, `{a:1}`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`,
	`tru`, `nul`, `"abc`, `"\x"`, `"\u12"`, `{"a":1`, `[`, `]`, `}`, "\v", "\v{}", "{}\v", "\u00a0", "\xef\xbb\xbf{}",
	`{"to":"bob@example.com","subject":"hello","body":"a short message body","n":12.50,"tags":["a","b"],"opts":{"z":1,"a":true}}`,
	`{"k16":1,"k15":1,"k14":1,"k13":1,"k12":1,"k11":1,"k10":1,"k9":1,"k8":1,"k7":1,"k6":1,"k5":1,"k4":1,"k3":1,"k2":1,"k1":1,"k0":1,"k1":2}`,
}

func FuzzCanonical(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Add(bytes.Repeat([]byte("["), maxScanDepth+1))
	f.Add(append(bytes.Repeat([]byte("["), maxScanDepth+1), bytes.Repeat([]byte("]"), maxScanDepth+1)...))
	f.Add(append(bytes.Repeat([]byte(`{"a":`), maxScanDepth), append([]byte("1"), bytes.Repeat([]byte("}"), maxScanDepth)...)...))
	var c Encoder // reused, as the writer does
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, wantErr := canonicalTree(raw)
		got, gotErr := Canonical(raw)
		if (wantErr == nil) != (gotErr == nil) || wantErr != nil && wantErr.Error() != gotErr.Error() {
			t.Fatalf("Canonical(%q) error = %v, want %v", raw, gotErr, wantErr)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("Canonical(%q) = %q, want %q", raw, got, want)
		}
		h, err := c.AppendHash(nil, raw)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("appendHash(%q) error = %v, want %v", raw, err, wantErr)
		}
		if wantErr == nil {
			sum := sha256.Sum256(want)
			if string(h) != hex.EncodeToString(sum[:]) {
				t.Fatalf("appendHash(%q) = %s, want the hash of %q", raw, h, want)
			}
		}
		// The same Encoder, reused: what it appends follows dst.
		app, err := c.AppendCanonical([]byte("x"), raw)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("AppendCanonical(%q) error = %v, want %v", raw, err, wantErr)
		}
		if wantErr == nil && string(app) != "x"+string(want) {
			t.Fatalf("AppendCanonical(x, %q) = %q, want x%q", raw, app, want)
		}
	})
}

// TestCanonicalTakesCommonInput checks that the scanner itself, and not
// its fall-back, handles well-formed arguments.
func TestCanonicalTakesCommonInput(t *testing.T) {
	var c Encoder
	for _, s := range []string{
		``, `{}`, `{"b":1,"a":[1,2.50,{"y":null,"x":true}],"a":"dup"}`, `{"s":"tab\there \u00e9 \ud83d\ude00 <&>"}`,
		`{"to":"bob@example.com","subject":"hello","body":"a short message body","n":12.50,"tags":["a","b"],"opts":{"z":1,"a":true}}`,
	} {
		if !c.canonical([]byte(s)) {
			t.Errorf("the scanner left %s to the tree", s)
			continue
		}
		want, err := canonicalTree([]byte(s))
		if err != nil || !bytes.Equal(c.out, want) {
			t.Errorf("canonical(%s) = %s, want %s (%v)", s, c.out, want, err)
		}
	}
}

// TestArgsHashIsStable pins hashes computed by the encoding/json-based
// implementation this one replaced: lines already on disk carry them, so
// the canonical form must never change.
func TestArgsHashIsStable(t *testing.T) {
	for in, want := range map[string]string{
		``:                                       "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
		`{"b":1,"a":2}`:                          "d3626ac30a87e6f7a6428233b3c68299976865fa5508e4267c5415c76af7a772",
		`{"amount":0.50,"to":"bob@example.com"}`: "904b68231a3bbdbc2204016b0667a26ac6003a001aa90868dd70968653311dda",
		`{"s":"<&>\u00e9\u2028","n":[1e21,0.0000001,-0]}`: "7ee8c956b9a23954bb980ca2dca4318c3995a9f8aadfb24f1da7eb6facd30aa3",
		`{"a":100000000000000000001}`:                     "ae26cad017b9c1a5304ec1544f498119ebe091b0ba98df22713ff6456d1a12cb",
	} {
		if got := mustHash(t, in); got != want {
			t.Errorf("ArgsHash(%s) = %s, want %s", in, got, want)
		}
	}
}

func mustHash(t *testing.T, s string) string {
	t.Helper()
	h, err := Hash([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// appendStringWant is encoding/json's encoding of s as a JSON string.
func appendStringWant(t testing.TB, s string, escapeHTML bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// TestAppendStringMatchesEncodingJSON: AppendString escapes as
// encoding/json does, with and without HTML escaping, whether the bytes
// that need escaping come alone, in runs, or inside the eight-byte words
// it skips over whole.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	pieces := []string{"a", "abcdefgh", "0123456789abcdef", " ", "\"", "\\", "<", ">", "&", "\x00", "\x1f", "\n", "\t",
		"\x7f", "é", "中文", "\u2028", "\u2029", "\xff", "\xe2\x80", "😀", "\xed\xa0\x80", "~", "}"}
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 20000 {
		var b strings.Builder
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		s := b.String()
		for _, html := range []bool{true, false} {
			want := appendStringWant(t, s, html)
			if got := string(AppendString([]byte("x"), s, html)); got != "x"+want {
				t.Fatalf("%d: AppendString(%q, html %v) = %s, want %s", n, s, html, got[1:], want)
			}
			if got := string(AppendString(nil, []byte(s), html)); got != want {
				t.Fatalf("%d: AppendString([]byte %q, html %v) = %s, want %s", n, s, html, got, want)
			}
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("plain ascii text, long enough", true)
	f.Add("<a href=\"x\">&amp;</a>\u2028\xff", false)
	f.Fuzz(func(t *testing.T, s string, html bool) {
		if got, want := string(AppendString(nil, s, html)), appendStringWant(t, s, html); got != want {
			t.Fatalf("AppendString(%q, html %v) = %s, want %s", s, html, got, want)
		}
	})
}

func BenchmarkAppendString(b *testing.B) {
	for _, c := range []struct{ name, s string }{
		{"hex64", "628c1df6b089a16d5627910a3274b685aa85d23636dc845435bf77a47529cc56"},
		{"short", "send_email"},
		{"text", "The quick brown fox jumps over the lazy dog, twice: the quick brown fox."},
		{"utf8", "Größenmaßstäbe für Übergänge: 中文字符和日本語のテキスト"},
	} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.SetBytes(int64(len(c.s)))
			for b.Loop() {
				buf = AppendString(buf[:0], c.s, true)
			}
		})
	}
}
