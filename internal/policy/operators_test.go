package policy

import (
	"testing"
)

func TestOperators(t *testing.T) {
	tests := []struct {
		name     string
		path, op string
		value    string // YAML
		args     string // JSON
		wantHeld bool
	}{
		// eq / neq: type-strict, numbers by value.
		{"eq string", "args.s", "eq", `"main"`, `{"s":"main"}`, true},
		{"eq string differs", "args.s", "eq", `"main"`, `{"s":"Main"}`, false},
		{"eq number 1 == 1.0", "args.n", "eq", `1`, `{"n":1.0}`, true},
		{"eq number 1 == 1e0", "args.n", "eq", `1.0`, `{"n":1e0}`, true},
		{"eq big integers differ", "args.n", "eq", `9007199254740992`, `{"n":9007199254740993}`, false},
		{"eq big integers: a double reads 9007199254740992", "args.n", "eq", `9007199254740993`, `{"n":9007199254740993}`, false},
		{"eq string is not number", "args.n", "eq", `100`, `{"n":"100"}`, false},
		{"eq number is not string", "args.n", "eq", `"100"`, `{"n":100}`, false},
		{"eq bool", "args.b", "eq", `true`, `{"b":true}`, true},
		{"eq bool vs string", "args.b", "eq", `true`, `{"b":"true"}`, false},
		{"eq null", "args.b", "eq", `null`, `{"b":null}`, true},
		{"eq list", "args.l", "eq", `[1, "a"]`, `{"l":[1.0,"a"]}`, true},
		{"eq map", "args.m", "eq", `{a: 1}`, `{"m":{"a":1}}`, true},
		{"eq missing", "args.s", "eq", `"x"`, `{}`, false},
		{"neq holds", "args.s", "neq", `"admin"`, `{"s":"user"}`, true},
		{"neq fails on equal", "args.s", "neq", `"admin"`, `{"s":"admin"}`, false},
		{"neq missing fails closed", "args.s", "neq", `"admin"`, `{}`, false},
		{"neq null holds", "args.s", "neq", `"admin"`, `{"s":null}`, true},
		// in / not_in
		{"in", "args.c", "in", `["usd", "eur"]`, `{"c":"eur"}`, true},
		{"in absent", "args.c", "in", `["usd", "eur"]`, `{"c":"gbp"}`, false},
		{"in numbers by value", "args.c", "in", `[1, 2]`, `{"c":2.00}`, true},
		{"in type strict", "args.c", "in", `[1, 2]`, `{"c":"1"}`, false},
		{"not_in", "args.c", "not_in", `["admin"]`, `{"c":"user"}`, true},
		{"not_in present", "args.c", "not_in", `["admin"]`, `{"c":"admin"}`, false},
		{"not_in missing fails closed", "args.c", "not_in", `["admin"]`, `{}`, false},
		// numeric comparisons, exact
		{"lt", "args.n", "lt", `10`, `{"n":9.99}`, true},
		{"lt: a double reads 10", "args.n", "lt", `10`, `{"n":9.999999999999999999}`, false},
		{"lt equal", "args.n", "lt", `10`, `{"n":10}`, false},
		{"lte equal", "args.n", "lte", `50000`, `{"n":50000}`, true},
		{"lte above", "args.n", "lte", `50000`, `{"n":50000.0000000000001}`, false},
		{"lte string never holds", "args.n", "lte", `50000`, `{"n":"100"}`, false},
		{"lte bool never holds", "args.n", "lte", `50000`, `{"n":true}`, false},
		{"lte big ints", "args.n", "lte", `9007199254740992`, `{"n":9007199254740993}`, false},
		{"gt", "args.n", "gt", `0`, `{"n":0.1}`, true},
		{"gt negative", "args.n", "gt", `0`, `{"n":-0.1}`, false},
		{"gte", "args.n", "gte", `0.1`, `{"n":0.10}`, true},
		{"gte huge exponent", "args.n", "gte", `1`, `{"n":1e400}`, true},
		{"lt tiny exponent", "args.n", "lt", `0.0001`, `{"n":1e-400}`, true},
		{"lte yaml hex", "args.n", "lte", `0x10`, `{"n":16}`, true},
		{"lte yaml underscores", "args.n", "lte", `1_000`, `{"n":1000}`, true},
		// regex / not_regex (RE2, unanchored)
		{"regex", "args.b", "regex", `"^feat/"`, `{"b":"feat/x"}`, true},
		{"regex no match", "args.b", "regex", `"^feat/"`, `{"b":"fix/x"}`, false},
		{"regex unanchored", "args.b", "regex", `"feat"`, `{"b":"my-feat-1"}`, true},
		{"regex non-string", "args.b", "regex", `"1"`, `{"b":1}`, false},
		{"not_regex", "args.q", "not_regex", `"(?i)drop\\s+table"`, `{"q":"select 1"}`, true},
		{"not_regex match", "args.q", "not_regex", `"(?i)drop\\s+table"`, `{"q":"DROP  TABLE x"}`, false},
		{"not_regex non-string fails", "args.q", "not_regex", `"x"`, `{"q":5}`, false},
		{"not_regex missing fails", "args.q", "not_regex", `"x"`, `{}`, false},
		// contains: substring for strings, membership for arrays
		{"contains substring", "args.p", "contains", `"/tmp"`, `{"p":"/tmp/x"}`, true},
		{"contains substring absent", "args.p", "contains", `"/tmp"`, `{"p":"/etc"}`, false},
		{"contains array member", "args.l", "contains", `"b"`, `{"l":["a","b"]}`, true},
		{"contains array number", "args.l", "contains", `2`, `{"l":[1,2.0]}`, true},
		{"contains array absent", "args.l", "contains", `"c"`, `{"l":["a","b"]}`, false},
		{"contains number in string", "args.p", "contains", `1`, `{"p":"a1"}`, false},
		{"contains on object", "args.p", "contains", `"a"`, `{"p":{"a":1}}`, false},
		// exists
		{"exists true", "args.x", "exists", `true`, `{"x":0}`, true},
		{"exists true missing", "args.x", "exists", `true`, `{}`, false},
		{"exists true null", "args.x", "exists", `true`, `{"x":null}`, false},
		{"exists false missing", "args.x", "exists", `false`, `{}`, true},
		{"exists false null", "args.x", "exists", `false`, `{"x":null}`, true},
		{"exists false present", "args.x", "exists", `false`, `{"x":""}`, false},
		{"exists false parent not object", "args.x.y", "exists", `false`, `{"x":"s"}`, true},
		// starts_with
		{"starts_with", "args.u", "starts_with", `"https://"`, `{"u":"https://a"}`, true},
		{"starts_with no", "args.u", "starts_with", `"https://"`, `{"u":"http://a"}`, false},
		// path_within
		{"path_within inside", "args.p", "path_within", `"/data"`, `{"p":"/data/a/b.txt"}`, true},
		{"path_within the dir itself", "args.p", "path_within", `"/data/"`, `{"p":"/data"}`, true},
		{"path_within sibling prefix", "args.p", "path_within", `"/data"`, `{"p":"/database/x"}`, false},
		{"path_within dotdot escape", "args.p", "path_within", `"/data"`, `{"p":"/data/../etc/passwd"}`, false},
		{"path_within dotdot inside", "args.p", "path_within", `"/data"`, `{"p":"/data/a/../b"}`, true},
		{"path_within relative", "args.p", "path_within", `"/data"`, `{"p":"data/x"}`, false},
		{"path_within dot relative", "args.p", "path_within", `"/data"`, `{"p":"./x"}`, false},
		{"path_within NUL", "args.p", "path_within", `"/data"`, `{"p":"/data/a\u0000b"}`, false},
		{"path_within backslash", "args.p", "path_within", `"/data"`, `{"p":"/data/..\\..\\etc"}`, false},
		{"path_within list", "args.p", "path_within", `["/a", "/b"]`, `{"p":"/b/c"}`, true},
		{"path_within root", "args.p", "path_within", `"/"`, `{"p":"/anything"}`, true},
		{"path_within double slash", "args.p", "path_within", `"/data"`, `{"p":"//data//x"}`, true},
		{"path_within non-string", "args.p", "path_within", `"/data"`, `{"p":["/data/x"]}`, false},
		// max_len: runes, or array length
		{"max_len runes", "args.s", "max_len", `3`, `{"s":"héé"}`, true},
		{"max_len too long", "args.s", "max_len", `3`, `{"s":"abcd"}`, false},
		{"max_len array", "args.l", "max_len", `2`, `{"l":[1,2]}`, true},
		{"max_len array too long", "args.l", "max_len", `2`, `{"l":[1,2,3]}`, false},
		{"max_len number", "args.l", "max_len", `2`, `{"l":1}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustLoad(t, condPolicy(tt.path, tt.op, tt.value))
			d := p.Decide(call("t", tt.args))
			want := Allow
			if !tt.wantHeld {
				want = Deny
			}
			if d.Action != want {
				t.Errorf("%s %s %s on %s: got %v (%s), want %v", tt.path, tt.op, tt.value, tt.args, d.Action, d.Reason, want)
			}
		})
	}
}

func TestPaths(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		op, val  string
		args     string
		wantHeld bool
	}{
		{"nested", "args.a.b.c", "eq", "1", `{"a":{"b":{"c":1}}}`, true},
		{"nested missing", "args.a.b.c", "eq", "1", `{"a":{"b":{}}}`, false},
		{"index", "args.items[1].id", "eq", `"y"`, `{"items":[{"id":"x"},{"id":"y"}]}`, true},
		{"index out of range", "args.items[5].id", "exists", "false", `{"items":[]}`, true},
		{"index out of range eq", "args.items[5]", "eq", "1", `{"items":[1]}`, false},
		{"index on object", "args.items[0]", "eq", "1", `{"items":{"0":1}}`, false},
		{"bracket quoted", `args["weird.key"]`, "eq", "1", `{"weird.key":1,"weird":{"key":2}}`, true},
		{"bracket single quoted", `args['a b'].c`, "eq", "1", `{"a b":{"c":1}}`, true},
		{"bracket escaped quote", `args["say \"hi\""]`, "eq", "1", `{"say \"hi\"":1}`, true},
		{"dotted is nested", "args.weird.key", "eq", "2", `{"weird.key":1,"weird":{"key":2}}`, true},
		{"wildcard all hold", "args.items[*].amount", "lte", "10", `{"items":[{"amount":1},{"amount":10}]}`, true},
		{"wildcard one fails", "args.items[*].amount", "lte", "10", `{"items":[{"amount":1},{"amount":11}]}`, false},
		{"wildcard one missing", "args.items[*].amount", "lte", "10", `{"items":[{"amount":1},{}]}`, false},
		{"wildcard empty vacuous", "args.items[*].amount", "lte", "10", `{"items":[]}`, true},
		{"wildcard empty not_in", "args.to[*]", "not_in", `["ceo@x.com"]`, `{"to":[]}`, true},
		{"wildcard empty exists true", "args.items[*].id", "exists", "true", `{"items":[]}`, false},
		{"wildcard empty exists false", "args.items[*].secret", "exists", "false", `{"items":[]}`, true},
		{"wildcard exists every", "args.items[*].id", "exists", "true", `{"items":[{"id":1},{"x":2}]}`, false},
		{"wildcard exists false every", "args.items[*].secret", "exists", "false", `{"items":[{"id":1},{"secret":2}]}`, false},
		{"wildcard array missing", "args.items[*].id", "lte", "1", `{}`, false},
		{"wildcard not an array", "args.items[*]", "lte", "1", `{"items":1}`, false},
		{"nested wildcards", "args.a[*].b[*]", "path_within", `"/tmp"`, `{"a":[{"b":["/tmp/1"]},{"b":["/tmp/2","/etc"]}]}`, false},
		{"nested wildcards ok", "args.a[*].b[*]", "path_within", `"/tmp"`, `{"a":[{"b":["/tmp/1"]},{"b":[]}]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustLoad(t, condPolicy(tt.path, tt.op, tt.val))
			d := p.Decide(call("t", tt.args))
			want := Allow
			if !tt.wantHeld {
				want = Deny
			}
			if d.Action != want {
				t.Errorf("%s %s %s on %s: got %v (%s), want %v", tt.path, tt.op, tt.val, tt.args, d.Action, d.Reason, want)
			}
		})
	}
}

func TestBadArguments(t *testing.T) {
	p := mustLoad(t, condPolicy("args.a", "exists", "false"))
	for _, args := range []string{`[1]`, `null`, `"x"`, `{"a":1`, `{"a":1} {}`, "{\"a\":\"\xff\"}"} {
		d := p.Decide(call("t", args))
		if d.Action != Deny {
			t.Errorf("args %q: got %v, want deny", args, d.Action)
		}
	}
	for _, args := range []string{``, `{}`, ` {} `} {
		if d := p.Decide(call("t", args)); d.Action != Allow {
			t.Errorf("args %q: got %v (%s), want allow", args, d.Action, d.Reason)
		}
	}
}
