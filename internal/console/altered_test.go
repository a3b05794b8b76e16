package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
)

// TestConsoleSignsOnlyTheCallShown: a record whose arguments say one call
// and whose fingerprint names another (written into the store by the
// agent) is not approved, even with the fingerprint it claims in the form;
// nor is a record that changed since the page showed it, nor one whose
// expiry outlives the policy's timeout.
func TestConsoleSignsOnlyTheCallShown(t *testing.T) {
	srv, base, store, _ := startConsole(t, approverPolicy(t))
	ctx := context.Background()
	now := time.Now()
	const shown = `{"amount":5,"to":"bob"}`
	const harmful = `{"amount":500000,"to":"mallory"}`
	fingerprint := func(args string) (string, string) {
		fp, hash, err := approval.Fingerprint(approval.Call{Tool: "pay", Args: []byte(args), Rule: "pay needs approval"})
		if err != nil {
			t.Fatal(err)
		}
		return fp, hash
	}
	begin := func(fp, args, hash string, expires time.Time) string {
		res, err := store.Begin(ctx, approval.BeginRequest{Now: now, New: approval.Record{ID: approval.NewID(), Fingerprint: fp,
			Tool: "pay", Args: args, ArgsHash: hash, Rule: "pay needs approval", CreatedAt: now, ExpiresAt: expires}})
		if err != nil {
			t.Fatal(err)
		}
		return res.Record.ID
	}
	fpHarm, _ := fingerprint(harmful)
	fpShown, hashShown := fingerprint(shown)
	swapped := begin(fpHarm, shown, hashShown, now.Add(time.Hour))
	c := client(t)
	csrf := signIn(t, c, base, srv.Token())
	_, page := fetchPage(t, c, base+"/approvals")
	if !strings.Contains(page, `&#34;to&#34;: &#34;bob&#34;`) || strings.Contains(page, "mallory") {
		t.Fatalf("the page should show only the harmless call:\n%s", page)
	}
	approve := func(id, fp string) (approval.Record, string) {
		t.Helper()
		resp := post(t, c, base, "/approvals/"+id+"/approve", url.Values{"csrf": {csrf}, "approver": {"alice"}, "passphrase": {testPass}, "fingerprint": {fp}}, base)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatal(resp.Status)
		}
		_, page := fetchPage(t, c, base+"/approvals")
		r, err := store.Get(ctx, id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return r, page
	}
	if r, page := approve(swapped, fpHarm); r.Status != approval.Pending || !strings.Contains(page, "is not that of the call it shows") {
		t.Errorf("a record whose fingerprint is another call's: %s, page:\n%s", r.Status, page)
	}

	// The form carries the fingerprint of the call the page showed: a
	// record that is another call by now is not approved.
	honest := begin(fpShown, shown, hashShown, now.Add(time.Hour))
	if r, page := approve(honest, fpHarm); r.Status != approval.Pending || !strings.Contains(page, "changed since this page was drawn") {
		t.Errorf("a form for another call: %s, page:\n%s", r.Status, page)
	}

	// An expiry a year ahead (the policy's timeout is an hour).
	_, hashOther := fingerprint(`{"amount":7}`)
	fpOther, _ := fingerprint(`{"amount":7}`)
	stretched := begin(fpOther, `{"amount":7}`, hashOther, now.Add(365*24*time.Hour))
	if r, page := approve(stretched, fpOther); r.Status != approval.Pending || !strings.Contains(page, "approvals.timeout") {
		t.Errorf("a record outliving the policy's timeout: %s, page:\n%s", r.Status, page)
	}

	if r, _ := approve(honest, fpShown); r.Status != approval.Approved {
		t.Errorf("the honest record, as shown: %s", r.Status)
	}
}
