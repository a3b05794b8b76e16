package scan

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A type union with "null" is the type it is nullable: ["null","array"] is
// how the Go SDK describes a slice, and an array of records there is as
// much a bulk operation as one declared "array".
func TestSchemaTypeUnions(t *testing.T) {
	records := `"items":{"type":"object","properties":{"email":{"type":"string"}}}`
	for _, tc := range []struct {
		name, schema string
		want         param
	}{
		{"array", `{"type":"array",` + records + `}`, param{Type: "array of object", Records: true}},
		{"null first", `{"type":["null","array"],` + records + `}`, param{Type: "array of object|null", Records: true}},
		{"null last", `{"type":["array","null"],` + records + `}`, param{Type: "array of object|null", Records: true}},
		{"nullable array of strings", `{"type":["null","array"],"items":{"type":"string","format":"uri"}}`, param{Type: "array of string|null", Format: "uri"}},
		{"nullable string", `{"type":["null","string"]}`, param{Type: "string|null"}},
		{"string or null", `{"type":["string","null"]}`, param{Type: "string|null"}},
		{"nullable items", `{"type":"array","items":{"type":["object","null"],"properties":{"a":{}}}}`, param{Type: "array of object|null", Records: true}},
		{"two types", `{"type":["string","number"]}`, param{Type: "string|number"}},
		{"only null", `{"type":["null"]}`, param{Type: "null"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params, _ := walkSchema(json.RawMessage(`{"type":"object","properties":{"users":` + tc.schema + `}}`))
			if len(params) == 0 || params[0].Path != "users" {
				t.Fatalf("params %+v", params)
			}
			got := params[0]
			want := tc.want
			want.Path, want.Name, want.Counted = "users", "users", true
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("param (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIsKind(t *testing.T) {
	for _, tc := range []struct {
		typ, kind string
		want      bool
	}{
		{"array", "array", true},
		{"array|null", "array", true},
		{"number|null", "number", true},
		{"null", "array", false},
		{"string|number", "string", false},
		{"array of object|null", "array", false},
		{"", "array", false},
	} {
		if got := isKind(tc.typ, tc.kind); got != tc.want {
			t.Errorf("isKind(%q, %q) = %v, want %v", tc.typ, tc.kind, got, tc.want)
		}
	}
}

// Whole classifications: the Go SDK's nullable slice of records makes a
// bulk tool, and a nullable amount still gets an amount rule.
func TestClassifyNullableForms(t *testing.T) {
	bulk := Classify(Tool{Name: "import_users", InputSchema: json.RawMessage(
		`{"type":"object","properties":{"users":{"type":["null","array"],"items":{"type":"object","properties":{"email":{"type":"string"}}}}}}`)})
	if !slices.ContainsFunc(bulk.Signals, func(s Signal) bool { return s.Kind == SignalBulk && slices.Contains(s.Paths, "users") }) {
		t.Errorf("nullable array of records: signals %+v, want bulk on users", bulk.Signals)
	}
	params, _ := walkSchema(json.RawMessage(`{"type":"object","properties":{"amount":{"type":["number","null"]}}}`))
	if path, ok := amountParam(params); !ok || path != "amount" {
		t.Errorf("amountParam of a nullable number = %q, %v; want amount", path, ok)
	}
}
