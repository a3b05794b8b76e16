package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

func TestParseCall(t *testing.T) {
	c, err := ParseCall([]byte(`{"name":"create_refund","arguments":{"amount":40},"_meta":{"progressToken":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "create_refund" || string(c.Args) != `{"amount":40}` {
		t.Errorf("got %+v", c)
	}
	c, err = ParseCall([]byte(`{"name":"ping_tool"}`))
	if err != nil || string(c.Args) != "{}" {
		t.Errorf("absent arguments: %q, %v; want {}", c.Args, err)
	}
}

// Each of these would let the gate judge one call while a server runs
// another. All must be refused.
func TestParseCallRefusesAmbiguity(t *testing.T) {
	for name, params := range map[string]string{
		"duplicate name":                `{"name":"read_file","name":"delete_repository","arguments":{}}`,
		"escaped duplicate name":        `{"name":"read_file","n\u0061me":"delete_repository","arguments":{}}`,
		"Name beside name":              `{"name":"read_file","Name":"delete_repository","arguments":{}}`,
		"Arguments alone":               `{"name":"create_refund","Arguments":{"amount":5000}}`,
		"ARGUMENTS beside arguments":    `{"name":"create_refund","arguments":{"amount":1},"ARGUMENTS":{"amount":5000}}`,
		"duplicate argument":            `{"name":"create_refund","arguments":{"amount":1,"amount":5000}}`,
		"case variant argument":         `{"name":"create_refund","arguments":{"amount":1,"AMOUNT":5000}}`,
		"nested duplicate":              `{"name":"x","arguments":{"items":[{"id":1,"id":2}]}}`,
		"kelvin sign variant":           "{\"name\":\"x\",\"arguments\":{\"k\":1,\"\u212A\":2}}",
		"long s variant":                "{\"name\":\"x\",\"arguments\":{\"ids\":1,\"id\u017F\":2}}",
		"duplicate _meta":               `{"name":"x","_meta":{},"_meta":{}}`,
		"name not a string":             `{"name":7,"arguments":{}}`,
		"empty name":                    `{"name":"","arguments":{}}`,
		"missing name":                  `{"arguments":{}}`,
		"arguments not an object":       `{"name":"x","arguments":[1]}`,
		"arguments null":                `{"name":"x","arguments":null}`,
		"params an array":               `["x"]`,
		"invalid utf-8 in an argument":  "{\"name\":\"x\",\"arguments\":{\"p\":\"\xc3\x28\"}}",
		"lone surrogate in an argument": `{"name":"x","arguments":{"p":"\udfff"}}`,
		"unterminated":                  `{"name":"x","arguments":{"p":1}`,
	} {
		t.Run(name, func(t *testing.T) {
			if c, err := ParseCall([]byte(params)); !errors.Is(err, ErrInvalidParams) {
				t.Errorf("ParseCall accepted %s as %+v (err %v)", params, c, err)
			}
		})
	}
	if _, err := ParseCall(nil); !errors.Is(err, ErrInvalidParams) {
		t.Error("ParseCall accepted missing params")
	}
}

func TestFilterListKeepsEverythingElse(t *testing.T) {
	msg := []byte(`{"jsonrpc":"2.0","id":"\u0031","result":{"_meta":{"x":1},"tools":[{"name":"a","inputSchema":{"type":"object","required":["p"]}},{"name":"secret"},{"description":"b","name":"b"}],"nextCursor":"c2"},"extra":true}`)
	m := parseResult(t, msg)
	var seen []string
	f := ToolFilter{Hidden: func(n string) bool { return n == "secret" }, Seen: func(n string, _ []byte) { seen = append(seen, n) }}
	out, err := f.FilterList(msg, m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"jsonrpc":"2.0","id":"\u0031","result":{"_meta":{"x":1},"tools":[{"name":"a","inputSchema":{"type":"object","required":["p"]}},{"description":"b","name":"b"}],"nextCursor":"c2"},"extra":true}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	if diff := cmp.Diff([]string{"a", "b"}, seen); diff != "" {
		t.Errorf("seen (-want +got):\n%s", diff)
	}
	// Nothing hidden: the very same bytes come back.
	f.Hidden = func(string) bool { return false }
	out, _ = f.FilterList(msg, m)
	if &out[0] != &msg[0] {
		t.Error("an unchanged list was copied")
	}
}

func TestFilterListFixture(t *testing.T) {
	tools := fixtureTools(t)
	msg := []byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":` + string(tools) + `}}`)
	keep := map[string]bool{}
	var all []struct{ Name string }
	if err := json.Unmarshal(tools, &all); err != nil {
		t.Fatal(err)
	}
	for i, tl := range all {
		if i%14 == 0 {
			keep[tl.Name] = true
		}
	}
	f := ToolFilter{Hidden: func(n string) bool { return !keep[n] }}
	out, err := f.FilterList(msg, parseResult(t, msg))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Result struct{ Tools []struct{ Name string } }
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("filtered list is not JSON: %v", err)
	}
	if len(got.Result.Tools) != len(keep) {
		t.Errorf("kept %d tools, want %d", len(got.Result.Tools), len(keep))
	}
	for _, tl := range got.Result.Tools {
		if !keep[tl.Name] {
			t.Errorf("hidden tool %q still listed", tl.Name)
		}
	}
}

func TestRequiredArgs(t *testing.T) {
	req, ok := RequiredArgs([]byte(`{"name":"a","inputSchema":{"type":"object","required":["x","y"]}}`))
	if !ok || strings.Join(req, ",") != "x,y" {
		t.Errorf("got %v %v", req, ok)
	}
	if _, ok := RequiredArgs([]byte(`{"name":"a"}`)); ok {
		t.Error("a tool without inputSchema reported one")
	}
}

func TestAppendDenialIsAToolResult(t *testing.T) {
	out := AppendDenial(nil, []byte(`9007199254740993`), "[POLICY DENIED] no", Decision{Action: "deny", Rule: "r", Reason: "no", RetryAfterMS: 1500})
	if !strings.HasPrefix(string(out), `{"jsonrpc":"2.0","id":9007199254740993,`) {
		t.Errorf("id not kept: %s", out)
	}
	var resp struct {
		Result struct {
			Content []struct{ Type, Text string }
			IsError bool
			Meta    map[string]map[string]any `json:"_meta"`
		}
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatal(err)
	}
	d := resp.Result.Meta[DecisionMetaKey]
	if !resp.Result.IsError || resp.Result.Content[0].Text != "[POLICY DENIED] no" || d["action"] != "deny" || d["retry_after_ms"] != 1500.0 {
		t.Errorf("got %s", out)
	}
}

func parseResult(t testing.TB, msg []byte) []byte {
	t.Helper()
	i := strings.Index(string(msg), `"result":`) + len(`"result":`)
	// The result object ends where the envelope's last members begin; find it
	// by decoding.
	var env struct{ Result json.RawMessage }
	if err := json.Unmarshal(msg, &env); err != nil {
		t.Fatal(err)
	}
	return msg[i : i+len(env.Result)]
}

func fixtureTools(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../testdata/fusionauth-tools.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Tools json.RawMessage }
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	if v.Tools == nil {
		return b
	}
	return v.Tools
}

func BenchmarkFilterList323Hide300(b *testing.B) {
	tools := fixtureTools(b)
	var compact bytes.Buffer // as servers send it: one line
	if err := json.Compact(&compact, tools); err != nil {
		b.Fatal(err)
	}
	tools = compact.Bytes()
	msg := []byte(`{"jsonrpc":"2.0","id":1,"result":{"tools":` + string(tools) + `}}`)
	res := parseResult(b, msg)
	n := 0
	hidden := map[string]bool{}
	var all []struct{ Name string }
	_ = json.Unmarshal(tools, &all)
	for _, tl := range all {
		if n < 300 {
			hidden[tl.Name] = true
		}
		n++
	}
	f := ToolFilter{Hidden: func(s string) bool { return hidden[s] }}
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if _, err := f.FilterList(msg, res); err != nil {
			b.Fatal(err)
		}
	}
}

// TestToolListFilterIsFilterList checks the two-step path the pump takes
// (read once, possibly from the cache; filter) against FilterList, on lists
// with and without hidden tools, cursors, _meta and odd spacing.
func TestToolListFilterIsFilterList(t *testing.T) {
	msgs := []string{
		`{"jsonrpc":"2.0","id":"\u0031","result":{"_meta":{"x":1},"tools":[{"name":"a","inputSchema":{"type":"object","required":["p"]}},{"name":"secret"},{"description":"b","name":"b"}],"nextCursor":"c2"},"extra":true}`,
		`{"jsonrpc":"2.0","id":2,"result":{ "tools" : [ {"name":"secret"} , {"name":"x"} ] , "nextCursor":null}}`,
		`{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}`,
		`{"jsonrpc":"2.0","id":4,"result":{"nextCursor":"z"}}`,
		`{"jsonrpc":"2.0","id":5,"result":{"tools":[{"name":"secret"}],"nextCursor":""}}`,
	}
	completes := []bool{false, true, true, false, true}
	for i, s := range msgs {
		msg := []byte(s)
		res := parseResult(t, msg)
		for _, hide := range []string{"secret", "none"} {
			var seenA, seenB []string
			fa := ToolFilter{Hidden: func(n string) bool { return n == hide }, Seen: func(n string, _ []byte) { seenA = append(seenA, n) }}
			fb := ToolFilter{Hidden: fa.Hidden, Seen: func(n string, _ []byte) { seenB = append(seenB, n) }}
			want, err := fa.FilterList(msg, res)
			if err != nil {
				t.Fatal(err)
			}
			var cache ToolListCache
			for range 2 { // the second read comes from the cache
				seenB = nil
				l, err := cache.Read(res)
				if err != nil {
					t.Fatal(err)
				}
				if l.Complete != completes[i] {
					t.Errorf("%s: Complete %v, want %v", s, l.Complete, completes[i])
				}
				got := l.Filter(msg, res, fb)
				if string(got) != string(want) {
					t.Errorf("%s hiding %s:\ngot  %s\nwant %s", s, hide, got, want)
				}
				if hide == "none" && &got[0] != &msg[0] {
					t.Errorf("%s: an unchanged list was copied", s)
				}
				if diff := cmp.Diff(seenA, seenB); diff != "" {
					t.Errorf("%s: seen (-FilterList +Filter):\n%s", s, diff)
				}
			}
		}
	}
	if _, err := ReadToolList([]byte(`{"tools":[],"tools":[{"name":"x"}]}`)); !errors.Is(err, jsonrpc.ErrAmbiguous) {
		t.Errorf("a result with two tools arrays read with err %v", err)
	}
}

// TestToolListCacheSeesEveryChange: a list whose bytes differ in one place,
// even keeping its length, is read again, never served from the cache.
func TestToolListCacheSeesEveryChange(t *testing.T) {
	var cache ToolListCache
	a := []byte(`{"tools":[{"name":"add","description":"Adds."},{"name":"rm","description":"Removes."}]}`)
	b := []byte(`{"tools":[{"name":"add","description":"Adds!"},{"name":"rm","description":"Removes."}]}`)
	c := []byte(`{"tools":[{"name":"add","description":"Adds."},{"name":"rn","description":"Removes."}]}`)
	la, _ := cache.Read(a)
	if la2, _ := cache.Read(append([]byte(nil), a...)); la2 != la {
		t.Error("equal bytes were read again")
	}
	lb, _ := cache.Read(b)
	if lb == la {
		t.Error("a changed description was served from the cache")
	}
	lc, _ := cache.Read(c)
	if lc == lb || lc.Tools[1].Name != "rn" {
		t.Errorf("a changed name was served from the cache: %+v", lc.Tools)
	}
}
