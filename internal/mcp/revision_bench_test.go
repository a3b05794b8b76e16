package mcp

import (
	"strings"
	"testing"
)

// BenchmarkReadOutcome reads what the pump needs of every call result
// (resultType, requestState, task id) from a 1 MiB text result, the
// common case: none of them present.
func BenchmarkReadOutcome(b *testing.B) {
	result := []byte(`{"content":[{"type":"text","text":"` + strings.Repeat(`a \"quoted\" word, `, 1<<20/20) + `"}],"isError":false}`)
	b.SetBytes(int64(len(result)))
	b.ReportAllocs()
	for b.Loop() {
		if o := ReadOutcome(result); o.ResultType != "" {
			b.Fatal(o)
		}
	}
}
