package approval

import (
	"testing"
)

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, `{}`},
		{` { } `, `{}`},
		{`{"b":1,"a":2}`, `{"a":2,"b":1}`},
		{`{"a":1.0}`, `{"a":1}`},
		{`{"a":1e0}`, `{"a":1}`},
		{`{"a":10e-1}`, `{"a":1}`},
		{`{"a":100}`, `{"a":100}`},
		{`{"a":1.50}`, `{"a":1.5}`},
		{`{"a":-0.0}`, `{"a":0}`},
		{`{"a":-12.5E+1}`, `{"a":-125}`},
		{`{"a":123456789012345678901234567890}`, `{"a":1.2345678901234567890123456789e+29}`},
		{`{"s":"\u00e9\u0041"}`, `{"s":"éA"}`},
		{`{"s":"\ud83d\ude00"}`, `{"s":"😀"}`},
		{`{"s":"<&>\/"}`, `{"s":"<&>/"}`},
		{`{"s":"a\nb\u0001"}`, `{"s":"a\nb\u0001"}`},
		{`{"\u0062":1,"a":[3,[2,{"z":null,"y":true}],false]}`, `{"a":[3,[2,{"y":true,"z":null}],false],"b":1}`},
		{`{"a":1e99999999999}`, `{"a":1e+99999999999}`},
	} {
		got, err := Canonical([]byte(tc.in))
		if err != nil {
			t.Errorf("Canonical(%s): %v", tc.in, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("Canonical(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
	for _, bad := range []string{`{`, `{"a":1} x`, `{"a":}`} {
		if _, err := Canonical([]byte(bad)); err == nil {
			t.Errorf("Canonical(%s): no error", bad)
		}
	}
}

func TestFingerprint(t *testing.T) {
	base := Call{Tool: "pay", Args: []byte(`{"amount":1,"to":"bob","meta":{"tags":["a","b"]}}`), Rule: "big", PolicyRev: "r1"}
	fp0, ah0, err := Fingerprint(base)
	if err != nil {
		t.Fatal(err)
	}
	same := []string{
		`{"to":"bob","meta":{"tags":["a","b"]},"amount":1.0}`,
		`{ "amount" : 1e0 , "to" : "\u0062ob", "meta": {"tags": ["\u0061", "b"]} }`,
		`{"amount":10E-1,"meta":{"tags":["a","b"]},"to":"bob"}`,
	}
	for _, a := range same {
		c := base
		c.Args = []byte(a)
		fp, ah, err := Fingerprint(c)
		if err != nil {
			t.Fatal(err)
		}
		if fp != fp0 || ah != ah0 {
			t.Errorf("Fingerprint(%s) differs from the base call's", a)
		}
	}
	differ := map[string]Call{
		"amount":     {Tool: "pay", Args: []byte(`{"amount":1.01,"to":"bob","meta":{"tags":["a","b"]}}`), Rule: "big", PolicyRev: "r1"},
		"type":       {Tool: "pay", Args: []byte(`{"amount":"1","to":"bob","meta":{"tags":["a","b"]}}`), Rule: "big", PolicyRev: "r1"},
		"array":      {Tool: "pay", Args: []byte(`{"amount":1,"to":"bob","meta":{"tags":["b","a"]}}`), Rule: "big", PolicyRev: "r1"},
		"nested":     {Tool: "pay", Args: []byte(`{"amount":1,"to":"bob","meta":{"tags":[["a"],"b"]}}`), Rule: "big", PolicyRev: "r1"},
		"extra key":  {Tool: "pay", Args: []byte(`{"amount":1,"to":"bob","meta":{"tags":["a","b"]},"x":null}`), Rule: "big", PolicyRev: "r1"},
		"tool":       {Tool: "pay2", Args: base.Args, Rule: "big", PolicyRev: "r1"},
		"rule":       {Tool: "pay", Args: base.Args, Rule: "bigger", PolicyRev: "r1"},
		"revision":   {Tool: "pay", Args: base.Args, Rule: "big", PolicyRev: "r2"},
		"field glue": {Tool: "pa", Args: base.Args, Rule: "ybig", PolicyRev: "r1"},
	}
	for name, c := range differ {
		fp, _, err := Fingerprint(c)
		if err != nil {
			t.Fatal(err)
		}
		if fp == fp0 {
			t.Errorf("%s: same fingerprint as the base call", name)
		}
	}
}

func TestID(t *testing.T) {
	a, b := NewID(), NewID()
	if a == b || !ValidID(a) || !ValidID(b) {
		t.Fatalf("NewID: %q %q", a, b)
	}
	for _, bad := range []string{"", "apr_", "apr_" + "A" + a[5:], a + "a", "xyz_" + a[4:], a[:len(a)-1] + "1", "apr_../../etc/passwd"} {
		if ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}
