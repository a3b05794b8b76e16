package proxy

import (
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/jsonrpc"
	"github.com/tollgate-mcp/tollgate/internal/mcp"
)

// Ruling.edit puts the gate's arguments and _meta in the call's place, in
// either order in the frame, adds a _meta the call lacked, and changes
// nothing else.
func TestRulingEdit(t *testing.T) {
	for _, tc := range []struct {
		name, frame string
		r           Ruling
		want        string
	}{
		{"meta replaced",
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"a":1},"arguments":{"x":1}}}`,
			Ruling{Meta: []byte(`{"a":1,"traceparent":"tp"}`)},
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"a":1,"traceparent":"tp"},"arguments":{"x":1}}}`},
		{"meta added",
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":1}}}`,
			Ruling{Meta: []byte(`{"traceparent":"tp"}`)},
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"traceparent":"tp"},"name":"t","arguments":{"x":1}}}`},
		{"both, meta first",
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{},"name":"t","arguments":{"x":"secret"}}}`,
			Ruling{Args: []byte(`{"x":"[REDACTED]"}`), Meta: []byte(`{"traceparent":"tp"}`)},
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"traceparent":"tp"},"name":"t","arguments":{"x":"[REDACTED]"}}}`},
		{"both, arguments first",
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":"secret"}, "_meta" : {"k":[1]}}}`,
			Ruling{Args: []byte(`{"x":"[REDACTED]"}`), Meta: []byte(`{"k":[1],"traceparent":"tp"}`)},
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":"[REDACTED]"}, "_meta" : {"k":[1],"traceparent":"tp"}}}`},
		{"both, meta added",
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":{"x":"secret"}}}`,
			Ruling{Args: []byte(`{"x":"[REDACTED]"}`), Meta: []byte(`{"traceparent":"tp"}`)},
			`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"_meta":{"traceparent":"tp"},"name":"t","arguments":{"x":"[REDACTED]"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := []byte(tc.frame)
			m, err := jsonrpc.Parse(frame, true)
			if err != nil {
				t.Fatal(err)
			}
			call, err := mcp.ParseCall(m.Params)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := tc.r.edit(frame, m.Params, call)
			if !ok || string(got) != tc.want {
				t.Fatalf("edit: ok %v\n got %s\nwant %s", ok, got, tc.want)
			}
			if string(frame) != tc.frame {
				t.Error("edit changed the frame it was given")
			}
		})
	}
	// A part that is not in the frame is refused, never guessed.
	frame := []byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{}}}`)
	r := Ruling{Meta: []byte(`{}`)}
	if _, ok := r.edit(frame, []byte(`{"name":"t"}`), mcp.Call{Name: "t", Meta: []byte(`{}`)}); ok {
		t.Error("edit accepted a _meta that is not in the frame")
	}
}
