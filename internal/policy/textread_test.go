package policy

import (
	"strings"
	"testing"
	"time"
)

// Text is read as a lenient server reads it (case, surrounding spaces,
// control and format characters), in the direction that holds a call
// back: a deny or approval rule fires on a lenient match, an evaluate rule
// holds only on the exact one.
func TestTextReadAsALenientServerReadsIt(t *testing.T) {
	p := mustLoad(t, `version: "1"
tools:
  delete_repo:
    rules:
      - name: not prod
        action: deny
        conditions: [{path: args.repo, op: in, value: [prod-api, billing]}]
  send_email:
    rules:
      - name: board mail needs a person
        action: require_approval
        conditions: [{path: args.to, op: eq, value: board@corp.com}]
      - name: never the ceo
        conditions: [{path: args.to, op: not_in, value: [ceo@corp.com]}]
  deploy:
    rules:
      - name: staging only
        conditions: [{path: args.env, op: eq, value: staging}]
      - name: not prod
        conditions: [{path: args.env, op: neq, value: prod}]
  run_sql:
    rules:
      - name: no drops
        action: deny
        conditions: [{path: args.sql, op: contains, value: drop table}]
  read_file:
    rules:
      - name: no etc
        action: deny
        conditions: [{path: args.path, op: path_within, value: /etc}]
  push:
    rules:
      - name: no release branches
        action: deny
        conditions: [{path: args.branch, op: starts_with, value: release/}]
`)
	now := time.Now()
	for _, c := range []struct {
		tool, args string
		want       Action
	}{
		{"delete_repo", `{"repo":"prod-api"}`, Deny},
		{"delete_repo", `{"repo":"Prod-API"}`, Deny},
		{"delete_repo", `{"repo":"prod-api "}`, Deny},
		{"delete_repo", `{"repo":"prod-\u200bapi"}`, Deny},
		{"delete_repo", `{"repo":"BILLING"}`, Deny},
		{"delete_repo", `{"repo":"sandbox"}`, Allow},
		{"send_email", `{"to":"Board@Corp.com"}`, RequireApproval},
		{"send_email", `{"to":"CEO@corp.com"}`, Deny},
		{"send_email", `{"to":" ceo@corp.com"}`, Deny},
		{"send_email", `{"to":"alice@corp.com"}`, Allow},
		{"deploy", `{"env":"staging"}`, Allow},
		{"deploy", `{"env":"Staging"}`, Deny}, // an allow list holds on the exact text only
		{"run_sql", `{"sql":"DROP TABLE users"}`, Deny},
		{"run_sql", `{"sql":"drop\u00adtable users"}`, Allow}, // a soft hyphen is no space
		{"run_sql", `{"sql":"Drop\u200b Table users"}`, Deny},
		{"run_sql", `{"sql":"select 1"}`, Allow},
		{"push", `{"branch":"Release/1.0"}`, Deny},
		{"push", `{"branch":"feature/x"}`, Allow},
	} {
		d := p.Decide(&Call{Tool: c.tool, Args: []byte(c.args), Now: now})
		if d.Action != c.want {
			t.Errorf("%s %s: %v (%s), want %v", c.tool, c.args, d.Action, d.Reason, c.want)
		}
	}
	for _, c := range []struct{ tool, args, reading string }{
		{"delete_repo", `{"repo":"Prod-API"}`, `args.repo = "Prod-API" read as "prod-api"`},
		{"run_sql", `{"sql":"DROP TABLE users"}`, `args.sql = "DROP TABLE users" read as "drop table"`},
		{"push", `{"branch":"Release/1.0"}`, `args.branch = "Release/1.0" read as "release/"`},
		{"read_file", `{"path":"/ETC/passwd"}`, `args.path = "/ETC/passwd" read without regard to case`},
	} {
		d := p.Decide(&Call{Tool: c.tool, Args: []byte(c.args), Now: now})
		if !strings.Contains(d.Reason, c.reading) {
			t.Errorf("the denial does not say which reading decided: %s", d.Reason)
		}
	}
}
