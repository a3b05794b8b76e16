package mcp

import "testing"

func TestMisspelt(t *testing.T) {
	for _, m := range methods {
		if canon, ok := Misspelt(m); ok {
			t.Errorf("Misspelt(%q) = %q, true: a method of its own", m, canon)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"Tools/Call", MethodToolsCall},
		{"tools/call ", MethodToolsCall},
		{"tools/call\x00", MethodToolsCall},
		{"\ufefftools/list", MethodToolsList},
		{"sampling/createmessage", MethodSampling},
		{"Notifications/Cancelled", NotificationCancelled},
		{"TASKS/RESULT", MethodTasksResult},
	} {
		if canon, ok := Misspelt(c.in); !ok || canon != c.want {
			t.Errorf("Misspelt(%q) = %q, %v; want %q, true", c.in, canon, ok, c.want)
		}
	}
	for _, m := range []string{"", "tools/calls", "tools call", "x-vendor/Thing", "Tools/Invoke"} {
		if canon, ok := Misspelt(m); ok {
			t.Errorf("Misspelt(%q) = %q, true", m, canon)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Misspelt("tools/call") }); n != 0 {
		t.Errorf("Misspelt of a method allocates %v times", n)
	}
}
