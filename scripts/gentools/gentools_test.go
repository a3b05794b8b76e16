package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The committed description and what this program makes of it, relative to
// this package.
var (
	specPath  = filepath.Join("..", "..", "testdata", "fusionauth-openapi", "openapi.yaml")
	toolsPath = filepath.Join("..", "..", "testdata", "fusionauth-tools.json")
)

type tool struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"inputSchema"`
	Meta        struct {
		HTTP string `json:"http"`
	} `json:"_meta"`
}

func readTools(t *testing.T, b []byte) []tool {
	t.Helper()
	var v struct {
		Tools []tool `json:"tools"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode tools: %v", err)
	}
	return v.Tools
}

// TestCommittedToolsAreGenerated fails when testdata/fusionauth-tools.json
// was edited by hand or the generator changed without regenerating it.
func TestCommittedToolsAreGenerated(t *testing.T) {
	spec, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(toolsPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := generate(spec)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	if bytes.Equal(got, committed) {
		return
	}
	t.Errorf("%s is not what the generator makes of %s; run `go run ./scripts/gentools` from the repository root",
		toolsPath, specPath)
	want, have := readTools(t, got), readTools(t, committed)
	if len(want) != len(have) {
		t.Fatalf("generated %d tools, committed %d", len(want), len(have))
	}
	for i := range want {
		if diff := cmp.Diff(want[i], have[i]); diff != "" {
			t.Errorf("tool %d (%s) differs (-generated +committed):\n%s", i, want[i].Name, diff)
			return
		}
	}
	t.Errorf("the tools are equal; the difference is in the formatting")
}

// TestCommittedToolsVariety pins what the tests that read the tool list rely
// on: 323 tools, about 1.5 MB, deep schemas, credential fields, long
// descriptions, every HTTP method, tools without arguments.
func TestCommittedToolsVariety(t *testing.T) {
	b, err := os.ReadFile(toolsPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b); n < 1_400_000 || n > 1_600_000 {
		t.Errorf("size %d bytes, want about 1.5 MB", n)
	}
	tools := readTools(t, b)
	if len(tools) != 323 {
		t.Fatalf("%d tools, want 323", len(tools))
	}
	names := map[string]bool{}
	methods := map[string]int{}
	var deepest, longest, noArgs, withBody int
	credentials := map[string]bool{}
	for _, tl := range tools {
		if tl.Name == "" || names[tl.Name] {
			t.Errorf("tool name %q empty or repeated", tl.Name)
		}
		names[tl.Name] = true
		if tl.Description == "" {
			t.Errorf("%s: no description", tl.Name)
		}
		longest = max(longest, len(tl.Description))
		method, _, _ := strings.Cut(tl.Meta.HTTP, " ")
		methods[method]++
		if tl.InputSchema["type"] != "object" {
			t.Errorf("%s: inputSchema type %v, want object", tl.Name, tl.InputSchema["type"])
		}
		props, _ := tl.InputSchema["properties"].(map[string]any)
		if len(props) == 0 {
			noArgs++
		}
		if _, ok := props["requestBody"]; ok {
			withBody++
		}
		req, _ := tl.InputSchema["required"].([]any)
		for _, r := range req {
			if _, ok := props[r.(string)]; !ok {
				t.Errorf("%s: required %v is not a property", tl.Name, r)
			}
		}
		deepest = max(deepest, depth(tl.InputSchema))
		collectCredentials(tl.InputSchema, credentials)
	}
	if deepest < 12 {
		t.Errorf("deepest inputSchema nests %d levels, want 12 or more", deepest)
	}
	if longest < 2000 {
		t.Errorf("longest description %d bytes, want 2000 or more", longest)
	}
	if noArgs == 0 || withBody < 150 {
		t.Errorf("%d tools without arguments, %d with a body; want some and 150 or more", noArgs, withBody)
	}
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		if methods[m] == 0 {
			t.Errorf("no %s tool", m)
		}
	}
	for _, k := range []string{"password", "clientSecret", "apiKey", "refreshToken", "token"} {
		if !credentials[k] {
			t.Errorf("no property named %q anywhere", k)
		}
	}
	// Tests elsewhere name these tools.
	for _, n := range []string{"importRefreshTokensWithId", "deleteApplicationWithId", "createIdentityProviderWithId", "retrieveJsonWebKeySetWithId"} {
		if !names[n] {
			t.Errorf("no tool %s", n)
		}
	}
}

func depth(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	case []any:
		for _, e := range v {
			d = max(d, depth(e))
		}
		return d + 1
	}
	return 0
}

func collectCredentials(v any, into map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			into[k] = true
			collectCredentials(e, into)
		}
	case []any:
		for _, e := range v {
			collectCredentials(e, into)
		}
	}
}

func TestGenerate(t *testing.T) {
	cases := []struct {
		name string
		spec string
		want string // the tools array, compact
	}{
		{
			name: "parameters in order, path ones required, description after the schema",
			spec: `
paths:
  /things/{id}:
    delete:
      operationId: deleteThing
      description: Deletes a thing.
      parameters:
      - {name: force, in: query, schema: {type: boolean}}
      - {name: id, in: path, required: true, schema: {type: string, format: uuid}, description: The thing.}
      - {name: X-Tenant, in: header, required: true, schema: {type: string}}
      - {name: session, in: cookie, schema: {type: string}}
`,
			want: `[{"name":"deleteThing","description":"Deletes a thing.","inputSchema":{"type":"object","properties":{"force":{"type":"boolean"},"id":{"type":"string","format":"uuid","description":"The thing."},"X-Tenant":{"type":"string"}},"required":["id","X-Tenant"]},"_meta":{"http":"DELETE /things/{id}"}}]`,
		},
		{
			name: "operations in written order, path-item parameters shared and overridden",
			spec: `
paths:
  /a/{id}:
    parameters:
    - {name: id, in: path, required: true, schema: {type: string}}
    - {name: v, in: query, schema: {type: integer}}
    put: {operationId: putA, description: Put., parameters: [{name: v, in: query, schema: {type: string}}]}
    get: {operationId: getA, summary: Get.}
`,
			want: `[{"name":"putA","description":"Put.","inputSchema":{"type":"object","properties":{"id":{"type":"string"},"v":{"type":"string"}},"required":["id"]},"_meta":{"http":"PUT /a/{id}"}},` +
				`{"name":"getA","description":"Get.","inputSchema":{"type":"object","properties":{"id":{"type":"string"},"v":{"type":"integer"}},"required":["id"]},"_meta":{"http":"GET /a/{id}"}}]`,
		},
		{
			name: "JSON body inlined through references, other media types ignored",
			spec: `
components:
  schemas:
    Inner: {type: object, properties: {secret: {type: string}}}
    Outer: {description: Outer., type: object, properties: {inner: {"$ref": "#/components/schemas/Inner"}, list: {type: array, items: {"$ref": "#/components/schemas/Inner"}}}}
  requestBodies:
    Body: {required: true, content: {application/json: {schema: {"$ref": "#/components/schemas/Outer"}}}}
  parameters:
    Id: {name: id, in: query, schema: {type: string}}
paths:
  /b:
    post:
      operationId: postB
      description: B.
      parameters: [{"$ref": "#/components/parameters/Id"}]
      requestBody: {"$ref": "#/components/requestBodies/Body"}
  /form:
    post:
      operationId: postForm
      description: Form.
      requestBody: {content: {application/x-www-form-urlencoded: {schema: {type: object}}}}
`,
			want: `[{"name":"postB","description":"B.","inputSchema":{"type":"object","properties":{"id":{"type":"string"},"requestBody":{"description":"Outer.","type":"object","properties":{"inner":{"type":"object","properties":{"secret":{"type":"string"}}},"list":{"type":"array","items":{"type":"object","properties":{"secret":{"type":"string"}}}}}}},"required":["requestBody"]},"_meta":{"http":"POST /b"}},` +
				`{"name":"postForm","description":"Form.","inputSchema":{"type":"object","properties":{}},"_meta":{"http":"POST /form"}}]`,
		},
		{
			name: "scalars keep their YAML types",
			spec: `
paths:
  /c:
    get:
      operationId: getC
      description: "C \u2019 \U0001F600 <&>"
      parameters: [{name: n, in: query, schema: {type: number, minimum: 0.5, maximum: 10, default: null, example: '10'}}]
`,
			want: `[{"name":"getC","description":"C \u2019 \ud83d\ude00 <&>","inputSchema":{"type":"object","properties":{"n":{"type":"number","minimum":0.5,"maximum":10,"default":null,"example":"10"}}},"_meta":{"http":"GET /c"}}]`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := generate([]byte(c.spec))
			if err != nil {
				t.Fatalf("generate: %v", err)
			}
			var v struct{ Tools json.RawMessage }
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("decode %s: %v", out, err)
			}
			var got bytes.Buffer
			if err := json.Compact(&got, v.Tools); err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, []byte(c.want)); err != nil {
				t.Fatalf("test case: %v", err)
			}
			// Compare strings, not decoded values: member order is part of
			// what the generator promises.
			if diff := cmp.Diff(want.String(), got.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestGenerateEncoding pins the file format: one-space indent, ": " after a
// key, every character outside ASCII escaped (astral ones as a surrogate
// pair), < > & left alone.
func TestGenerateEncoding(t *testing.T) {
	out, err := generate([]byte(`
paths:
  /e:
    get: {operationId: e, description: "’😀<&>\"\\\t\u007f", parameters: []}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{
 "tools": [
  {
   "name": "e",
   "description": "\u2019\ud83d\ude00<&>\"\\\t` + "\u007f" + `",
   "inputSchema": {
    "type": "object",
    "properties": {}
   },
   "_meta": {
    "http": "GET /e"
   }
  }
 ]
}
`
	if diff := cmp.Diff(want, string(out)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestGenerateRejects(t *testing.T) {
	cases := []struct {
		name, spec, want string
	}{
		{"a schema that contains itself", `
components: {schemas: {Node: {type: object, properties: {next: {"$ref": "#/components/schemas/Node"}}}}}
paths: {/n: {post: {operationId: n, requestBody: {content: {application/json: {schema: {"$ref": "#/components/schemas/Node"}}}}}}}
`, "refers to itself"},
		{"a dangling reference", `
paths: {/d: {post: {operationId: d, requestBody: {content: {application/json: {schema: {"$ref": "#/components/schemas/Missing"}}}}}}}
`, `no "components"`},
		{"a remote reference", `
paths: {/r: {post: {operationId: r, requestBody: {content: {application/json: {schema: {"$ref": "other.yaml#/X"}}}}}}}
`, "only local references"},
		{"a repeated operationId", `
paths: {/x: {get: {operationId: same}}, /y: {get: {operationId: same}}}
`, `operationId "same" already used by GET /x`},
		{"an operation without operationId", `
paths: {/x: {get: {description: nameless}}}
`, "no operationId"},
		{"a duplicate key", `
paths: {/x: {get: {operationId: a}, get: {operationId: b}}}
`, `duplicate key "get"`},
		{"no paths", `openapi: 3.0.3`, "read paths"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := generate([]byte(c.spec))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("generate: %v, want an error containing %q", err, c.want)
			}
		})
	}
}
