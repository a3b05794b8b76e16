package policy

import "testing"

func TestHidesAnyAndUsesSchemas(t *testing.T) {
	for src, want := range map[string][2]bool{
		"version: \"1\"\n":                    {false, false},
		"version: \"1\"\nhide: [a]\n":         {true, false},
		"version: \"1\"\nhide: [\"*\"]\n":     {true, false},
		"version: \"1\"\nhide: [\"del_*\"]\n": {true, false},
		"version: \"1\"\ntools:\n  a:\n    validate: {required_args: true}\n    rules: []\n":                       {false, true},
		"version: \"1\"\ntools:\n  \"*\":\n    rules:\n      - name: v\n        validate: {required_args: true}\n": {false, true},
	} {
		p, err := Load("p.yaml", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := [2]bool{p.HidesAny(), p.UsesSchemas()}; got != want {
			t.Errorf("%s: HidesAny, UsesSchemas = %v, want %v", src, got, want)
		}
	}
}
