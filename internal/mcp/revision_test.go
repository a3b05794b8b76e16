package mcp

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
)

func TestCompleted(t *testing.T) {
	for _, tc := range []struct {
		name, version, in, want string
	}{
		{"stateless result", Version20260728, `{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}`, `{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete","content":[],"isError":true}}`},
		{"empty result", Version20260728, `{"jsonrpc":"2.0","id":1,"result":{}}`, `{"jsonrpc":"2.0","id":1,"result":{"resultType":"complete"}}`},
		{"kept", Version20260728, `{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required"}}`, `{"jsonrpc":"2.0","id":1,"result":{"resultType":"input_required"}}`},
		{"error", Version20260728, `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}}`, `{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"x"}}`},
		{"earlier revision", Version20251125, `{"jsonrpc":"2.0","id":1,"result":{}}`, `{"jsonrpc":"2.0","id":1,"result":{}}`},
		{"no revision", "", `{"jsonrpc":"2.0","id":1,"result":{}}`, `{"jsonrpc":"2.0","id":1,"result":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, string(Completed(tc.version, []byte(tc.in)))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrivateScope(t *testing.T) {
	for _, tc := range []struct {
		name string
		add  bool
		in   string
		want string
	}{
		{"public made private", false, `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"ttlMs":5,"cacheScope":"public"}}`, `{"jsonrpc":"2.0","id":1,"result":{"tools":[],"ttlMs":5,"cacheScope":"private"}}`},
		{"absent, stateless client", true, `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`, `{"jsonrpc":"2.0","id":1,"result":{"cacheScope":"private","tools":[]}}`},
		{"absent, earlier client", false, `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`, `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`},
		{"already private", true, `{"jsonrpc":"2.0","id":1,"result":{"cacheScope":"private"}}`, `{"jsonrpc":"2.0","id":1,"result":{"cacheScope":"private"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, string(PrivateScope([]byte(tc.in), tc.add))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestTaskID(t *testing.T) {
	for in, want := range map[string]string{
		`{"resultType":"task","taskId":"a","status":"working"}`:     "a",
		`{"task":{"taskId":"b","status":"working"}}`:                "b",
		`{"resultType":"complete","taskId":"c"}`:                    "",
		`{"content":[{"type":"text","text":"{\"taskId\":\"d\"}"}]}`: "",
		`{"resultType":"input_required","requestState":"x"}`:        "",
		`[]`: "",
	} {
		if got := TaskID([]byte(in)); got != want {
			t.Errorf("TaskID(%s) = %q, want %q", in, got, want)
		}
		if got := ReadOutcome([]byte(in)).TaskID; got != want {
			t.Errorf("ReadOutcome(%s).TaskID = %q, want %q", in, got, want)
		}
	}
}

func TestParseCallRetry(t *testing.T) {
	for _, tc := range []struct {
		params string
		want   Call
		bad    bool
	}{
		{params: `{"name":"t","arguments":{},"requestState":"s","inputResponses":{"k":{}}}`, want: Call{Name: "t", Args: []byte(`{}`), Retry: true, RequestState: "s", InputResponses: []byte(`{"k":{}}`)}},
		{params: `{"name":"t","inputResponses":{"k":{}}}`, want: Call{Name: "t", Args: []byte(`{}`), Retry: true, InputResponses: []byte(`{"k":{}}`)}},
		{params: `{"name":"t"}`, want: Call{Name: "t", Args: []byte(`{}`)}},
		{params: `{"name":"t","requestState":1}`, bad: true},
		{params: `{"name":"t","inputResponses":[]}`, bad: true},
		{params: `{"name":"t","requestState":"a","RequestState":"b"}`, bad: true},
		{params: `{"name":"t","requestState":"a","requestState":"b"}`, bad: true},
	} {
		got, err := ParseCall([]byte(tc.params))
		if tc.bad {
			if !errors.Is(err, ErrInvalidParams) {
				t.Errorf("ParseCall(%s) = %v, want ErrInvalidParams", tc.params, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseCall(%s): %v", tc.params, err)
			continue
		}
		got.Meta = nil
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseCall(%s) (-want +got):\n%s", tc.params, diff)
		}
	}
}

func TestAppendListChanged(t *testing.T) {
	for sub, want := range map[string]string{
		"":     `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`,
		`"L1"`: `{"jsonrpc":"2.0","method":"notifications/tools/list_changed","params":{"_meta":{"io.modelcontextprotocol/subscriptionId":"L1"}}}`,
	} {
		var s []byte
		if sub != "" {
			s = []byte(sub)
		}
		got := AppendListChanged(nil, s)
		if string(got) != want {
			t.Errorf("AppendListChanged(%s) = %s, want %s", sub, got, want)
		}
		if _, err := jsonrpc.Parse(got, true); err != nil {
			t.Errorf("AppendListChanged(%s) is not a valid message: %v", sub, err)
		}
	}
}

func TestReadOutcome(t *testing.T) {
	for in, want := range map[string]Outcome{
		`{"resultType":"input_required","inputRequests":{},"requestState":"s"}`: {ResultType: "input_required", RequestState: "s"},
		`{"resultType":"complete","requestState":"s","content":[]}`:             {ResultType: "complete"},
		`{"content":[],"isError":true}`:                                         {},
		`{"resultType":"task","taskId":"t","status":"working"}`:                 {ResultType: "task", TaskID: "t"},
	} {
		if got := ReadOutcome([]byte(in)); got != want {
			t.Errorf("ReadOutcome(%s) = %+v, want %+v", in, got, want)
		}
	}
}
