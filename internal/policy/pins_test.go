package policy

import (
	"strings"
	"testing"
)

func TestPinsKey(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"version: \"1\"\n", ""},
		{"version: \"1\"\npins: off\n", "off"},
		{"version: \"1\"\npins: record\n", "record"},
		{"version: \"1\"\npins: enforce\n", "enforce"},
	} {
		p, err := Load("p.yaml", []byte(tc.yaml))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if got := p.Pins(); got != tc.want {
			t.Errorf("%q: Pins() = %q, want %q", tc.yaml, got, tc.want)
		}
	}
	_, err := Load("p.yaml", []byte("version: \"1\"\npins: enforced\n"))
	if err == nil || !strings.Contains(err.Error(), `p.yaml:2:7: pins must be one of off, record, enforce, got "enforced"`) || !strings.Contains(err.Error(), `"enforce"`) {
		t.Errorf("misspelt value: %v", err)
	}
	_, err = Load("p.yaml", []byte("version: \"1\"\npin: enforce\n"))
	if err == nil || !strings.Contains(err.Error(), "pins") {
		t.Errorf("misspelt key: %v", err)
	}
}
