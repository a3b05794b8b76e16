package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestDemoShowsEveryKindOfDecision(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := Main(ctx, []string{"demo"}, strings.NewReader(""), &out, &errb)
	if code != 0 {
		t.Fatalf("demo exited %d: %s", code, errb.String())
	}
	got := out.String()
	for _, want := range []string{"allowed", "DENIED", "HIDDEN", "REJECTED", "read_file may only read inside /srv/project", "duplicate key", "get_weather is limited to 3 calls a minute"} {
		if !strings.Contains(got, want) {
			t.Errorf("demo output lacks %q:\n%s", want, got)
		}
	}
	// The demo server finds create_refund under any case: the call must
	// not run it.
	for _, line := range strings.Split(got, "\n") {
		if strings.Contains(line, "Create_Refund ") && !strings.Contains(line, "HIDDEN") {
			t.Errorf("the refund tool, spelt in another case, was not refused: %s", line)
		}
	}
}
