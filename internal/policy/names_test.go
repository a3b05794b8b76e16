package policy

import (
	"strings"
	"testing"
	"time"
)

const namesPolicy = `version: "1"
hide: [internal_admin, "debug_*"]
tools:
  delete_repository:
    rules:
      - name: no deletes
        action: deny
  Send_Invoice:
    rules:
      - name: invoices
        rate_limit: 5/hour
  "drop_*":
    rules:
      - name: no drops
        action: deny
  list_items:
    rules: []
  Debug_Log:
    rules:
      - name: no debug logs
        action: deny
  "read_*":
    rules: []
inspect:
  post_message:
    arguments: {secret: redact}
  resources/read:
    results: {secret: redact}
`

func TestReadsAs(t *testing.T) {
	p, err := Load("p.yaml", []byte(namesPolicy))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tool, key string
		hidden    bool
	}{
		{"Delete_Repository", "delete_repository", false},
		{"DELETE_REPOSITORY", "delete_repository", false},
		{"delete_repository ", "delete_repository", false},
		{"\tdelete_repository\n", "delete_repository", false},
		{"delete_repository\x00", "delete_repository", false},
		{"delete_repository\x00; rm -rf /", "delete_repository", false},
		{"delete_\u200brepository", "delete_repository", false},                      // zero-width space
		{"\ufeffdelete_repository", "delete_repository", false},                      // byte-order mark
		{"delete_repo\u017fitory", "delete_repository", false},                       // long s
		{"delete_repository\u202e", "delete_repository", false},                      // right-to-left override
		{"ｄｅｌｅｔｅ＿ｒｅｐｏｓｉｔｏｒｙ", "delete_repository", false},                            // fullwidth (NFKC)
		{"\U0001d41d\U0001d41e\U0001d425ete_repository", "delete_repository", false}, // mathematical bold
		{"Ｉｎｔｅｒｎａｌ_Admin", "internal_admin", true},
		{"send_invoice", "Send_Invoice", false}, // the key's own case differs
		{"SEND_INVOICE", "Send_Invoice", false},
		{"Drop_Table", "drop_*", false},
		{"DROP_", "drop_*", false},
		{"Post_Message", "post_message", false}, // inspected, no tools key
		{"Internal_Admin", "internal_admin", true},
		{"Debug_Dump", "debug_*", true},
		{"DEBUG_LOG", "debug_*", true}, // a hidden glob before a governed key
		{"Debug_Log", "", false},       // a tools key itself
		// Not variants: the governed names themselves, names no key
		// governs, and names that differ by more than the reading.
		{"delete_repository", "", false},
		{"Send_Invoice", "", false},
		{"drop_table", "", false},
		{"List_Items", "", false},
		{"Read_File", "", false},
		{"other", "", false},
		{"delete_repositories", "", false},
		{"delete repository", "", false},
		{"delete-repository", "", false},
	} {
		key, hidden, ok := p.ReadsAs(c.tool)
		if ok != (c.key != "") || key != c.key || hidden != c.hidden {
			t.Errorf("ReadsAs(%q) = %q, %v, %v; want %q, %v, %v", c.tool, key, hidden, ok, c.key, c.hidden, c.key != "")
		}
	}
	empty, err := Load("p.yaml", []byte(`version: "1"`))
	if err != nil {
		t.Fatal(err)
	}
	if empty.GovernsNames() || !p.GovernsNames() {
		t.Errorf("GovernsNames: empty policy %v, this one %v", empty.GovernsNames(), p.GovernsNames())
	}
	if _, _, ok := empty.ReadsAs("Delete_Repository"); ok {
		t.Error("an empty policy reads a name as another")
	}
}

// A name the specification recommends costs a map lookup and a glob match
// per governed glob, and no allocation.
func TestReadsAsPlainNameDoesNotAllocate(t *testing.T) {
	p, err := Load("p.yaml", []byte(namesPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { p.ReadsAs("get_weather.v2/now") }); n != 0 {
		t.Errorf("ReadsAs of a plain name allocates %v times", n)
	}
}

// Decide refuses a variant of a governed name unless the server listed it
// exactly, and answers a variant of a hidden name as the hidden tool.
func TestDecideNameVariants(t *testing.T) {
	p, err := Load("p.yaml", []byte(namesPolicy))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	d := p.Decide(&Call{Tool: "Delete_Repository", Args: []byte(`{}`), Now: now})
	if d.Action != Deny || !strings.Contains(d.Reason, `reads as "delete_repository"`) {
		t.Errorf("unlisted variant: %+v", d)
	}
	if d := p.Decide(&Call{Tool: "Delete_Repository", Args: []byte(`{}`), Now: now, Listed: true}); d.Action != Allow {
		t.Errorf("a variant the server listed is a tool of its own: %+v", d)
	}
	if d := p.Decide(&Call{Tool: "Internal_Admin", Args: []byte(`{}`), Now: now}); d.Action != Deny || !d.Hidden {
		t.Errorf("variant of a hidden name: %+v", d)
	}
	_, steps := p.Explain(&Call{Tool: "Drop_Table", Args: []byte(`{}`), Now: now})
	if len(steps) == 0 || steps[0].Kind != "name" || !steps[0].Held {
		t.Errorf("explain of a variant: %+v", steps)
	}
	monitor, err := Load("p.yaml", []byte("mode: monitor\n"+namesPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if d := monitor.Decide(&Call{Tool: "Delete_Repository", Args: []byte(`{}`), Now: now}); d.Action != Deny || !d.Monitor {
		t.Errorf("monitor mode: %+v", d)
	}
}
