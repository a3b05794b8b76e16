package gate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tollgate-mcp/tollgate/internal/approval"
)

// TestElicitationEscapesHiddenCharacters: the inline question a person
// answers in their MCP client shows a right-to-left override, a zero-width
// space and a C1 control character in the arguments as escapes; raw, the
// call they approve need not be the call they read.
func TestElicitationEscapesHiddenCharacters(t *testing.T) {
	args := "{\"to\":\"acct-\u202e1337-evil\",\"memo\":\"a\u200bb\u009b2K\"}"
	r := approval.Record{ID: approval.NewID(), Tool: "pay\u200b", Args: args, Rule: "r"}
	var p struct{ Message string }
	if err := json.Unmarshal(elicitParams(&hold{}, r), &p); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"\u202e", "\u200b", "\u009b"} {
		if strings.Contains(p.Message, c) {
			t.Errorf("the question shows %U raw: %q", []rune(c)[0], p.Message)
		}
	}
	if !strings.Contains(p.Message, `acct-\u202E1337-evil`) || !strings.Contains(p.Message, `pay\u200B`) {
		t.Errorf("the question does not show the hidden characters as escapes: %q", p.Message)
	}
}
