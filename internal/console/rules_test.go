package console

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-mcp/tollgate/internal/policy"
)

const basePolicy = `# Team policy: keep this comment.
version: "1"
default: allow

hide:
  - drop_db   # never

tools:
  # Payments need care.
  create_payment:
    validate: {required_args: true}
    rules:
      - name: big
        action: require_approval
        conditions:
          - path: args.amount
            op: gt
            value: 100

  echo:
    rules: []

  "*":
    rules:
      - name: global
        rate_limit: 100/minute
# trailing comment
`

func TestEdit(t *testing.T) {
	for _, tc := range []struct {
		name string
		ch   Change
		want string // the rule ReadRules reads back, as Label + limit
		has  []string
		gone []string
	}{
		{"deny an existing entry", Change{Tool: "echo", Kind: Deny}, "Deny",
			[]string{"  echo:\n    rules:\n      - name: echo denied\n        action: deny\n"}, []string{"echo:\n    rules: []"}},
		{"rate limit a new tool", Change{Tool: "search", Kind: RateLimit, Limit: 5, Window: "hour"}, "Rate limit 5/hour",
			[]string{"  search:\n    rules:\n      - name: search rate limit\n        rate_limit: 5/hour\n"}, nil},
		{"approval replaces conditions but keeps validate", Change{Tool: "create_payment", Kind: Approval}, "Require approval",
			[]string{"    validate: {required_args: true}\n    rules:\n      - name: create_payment needs approval\n        action: require_approval\n"}, []string{"op: gt"}},
		{"hide a tool", Change{Tool: "echo", Kind: Hide}, "Hide", []string{"  - drop_db   # never\n  - echo\n"}, nil},
		{"show a hidden tool", Change{Tool: "drop_db", Kind: Allow}, "Allow", []string{"hide: []\n", "  drop_db:\n    rules: []\n"}, []string{"# never"}},
		{"a name that needs quoting", Change{Tool: "yes", Kind: Deny}, "Deny", []string{"  \"yes\":\n"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Edit([]byte(basePolicy), tc.ch)
			if err != nil {
				t.Fatalf("Edit: %v", err)
			}
			if _, err := policy.Load("p.yaml", out); err != nil {
				t.Fatalf("edited policy does not load: %v\n%s", err, out)
			}
			for _, s := range []string{"# Team policy: keep this comment.", "# Payments need care.", "# trailing comment", "rate_limit: 100/minute"} {
				if !strings.Contains(string(out), s) {
					t.Errorf("lost %q:\n%s", s, out)
				}
			}
			for _, s := range tc.has {
				if !strings.Contains(string(out), s) {
					t.Errorf("want %q in:\n%s", s, out)
				}
			}
			for _, s := range tc.gone {
				if strings.Contains(string(out), s) {
					t.Errorf("want no %q in:\n%s", s, out)
				}
			}
			rules, _, err := ReadRules("p.yaml", out, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, r := range rules {
				if r.Tool == tc.ch.Tool {
					got = r.Kind.Label()
					if r.Kind == RateLimit {
						got += " " + itoa(r.Limit) + "/" + r.Window
					}
				}
			}
			if got != tc.want {
				t.Errorf("read back %q, want %q\n%s", got, tc.want, out)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestEditRefuses(t *testing.T) {
	globHidden := "version: \"1\"\nhide: [\"drop_*\"]\n"
	for _, tc := range []struct {
		name string
		data string
		ch   Change
		want string
	}{
		{"a glob", basePolicy, Change{Tool: "delete_*", Kind: Deny}, "not a tool name"},
		{"a line break in a name", basePolicy, Change{Tool: "a\nb: c", Kind: Deny}, "not a tool name"},
		{"an unknown kind", basePolicy, Change{Tool: "echo", Kind: "custom"}, "unknown rule kind"},
		{"a zero rate", basePolicy, Change{Tool: "echo", Kind: RateLimit, Limit: 0, Window: "minute"}, "number of calls"},
		{"a window that is not offered", basePolicy, Change{Tool: "echo", Kind: RateLimit, Limit: 3, Window: "fortnight"}, "window must be"},
		{"hidden by a glob", globHidden, Change{Tool: "drop_db", Kind: Allow}, `hide entry "drop_*"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Edit([]byte(tc.data), tc.ch)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Edit error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestEditMinimal(t *testing.T) {
	// Only the tool's rules change: every other line stays byte for byte.
	out, err := Edit([]byte(basePolicy), Change{Tool: "echo", Kind: Deny})
	if err != nil {
		t.Fatal(err)
	}
	before := strings.Split(basePolicy, "\n")
	after := strings.Split(string(out), "\n")
	i := strings.Index(basePolicy, "    rules: []")
	line := strings.Count(basePolicy[:i], "\n")
	want := append(append(append([]string{}, before[:line]...),
		"    rules:", "      - name: echo denied", "        action: deny", `        reason: "denied by the policy (set in tollgate console)"`), before[line+1:]...)
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("edit (-want +got):\n%s", diff)
	}
}

func TestApplyChange(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real.yaml")
	if err := os.WriteFile(real, []byte(basePolicy), 0o640); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "policy.yaml")
	if err := os.Symlink("real.yaml", link); err != nil {
		t.Fatal(err)
	}
	rev := revision([]byte(basePolicy))
	if _, err := applyChange(link, "stale", Change{Tool: "echo", Kind: Deny}); err != errChanged {
		t.Errorf("stale revision: err = %v, want errChanged", err)
	}
	if _, err := applyChange(link, rev, Change{Tool: "echo", Kind: Deny}); err != nil {
		t.Fatalf("applyChange: %v", err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v %v", fi, err)
	}
	fi, err := os.Stat(real)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after write = %v (%v), want 0640", fi.Mode().Perm(), err)
	}
	data, _ := os.ReadFile(real)
	if !strings.Contains(string(data), "action: deny") {
		t.Errorf("not written:\n%s", data)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("left files behind: %v", ents)
	}

	// An edit whose result does not load is refused and writes nothing:
	// here the file already uses "echo denied" as a counter-free name, and
	// an approvals block that makes any rule invalid.
	bad := basePolicy + "approvals:\n  timeout: 1h\napproval_timeout: 2h\n"
	if err := os.WriteFile(real, []byte(bad), 0o640); err != nil {
		t.Fatal(err)
	}
	probs, err := applyChange(link, revision([]byte(bad)), Change{Tool: "echo", Kind: Allow})
	if err == nil || len(probs) == 0 {
		t.Errorf("invalid result: problems %v, err %v; want it refused with problems", probs, err)
	}
	if data, _ := os.ReadFile(real); string(data) != bad {
		t.Errorf("a refused edit changed the file")
	}
}
