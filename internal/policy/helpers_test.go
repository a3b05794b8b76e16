package policy

import (
	"fmt"
	"testing"
	"time"
)

func mustLoad(t testing.TB, src string) *Policy {
	t.Helper()
	p, err := Load("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Load: %v\nsource:\n%s", err, src)
	}
	return p
}

var t0 = time.Date(2026, 3, 4, 10, 30, 0, 0, time.UTC)

func call(tool, args string) *Call {
	return &Call{Tool: tool, Args: []byte(args), Now: t0, SchemaKnown: true}
}

// condPolicy is a policy with one evaluate rule holding one condition.
func condPolicy(path, op, value string) string {
	return fmt.Sprintf(`version: "1"
tools:
  t:
    rules:
      - name: r
        conditions:
          - path: %q
            op: %s
            value: %s
`, path, op, value)
}
