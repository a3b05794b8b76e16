package approval_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-mcp/tollgate/internal/approval"
)

func TestDeriveKey(t *testing.T) {
	const pass = "correct horse battery staple"
	alice, err := approval.DeriveKey("alice", pass)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := approval.DeriveKey("alice", pass)
	if !alice.Equal(again) {
		t.Fatal("the same name and passphrase gave two keys")
	}
	wrongPass, _ := approval.DeriveKey("alice", pass+"!")
	bob, _ := approval.DeriveKey("bob", pass)
	if alice.Equal(wrongPass) || alice.Equal(bob) {
		t.Fatal("another passphrase or another name gave the same key")
	}
	for _, tc := range []struct{ name, pass, want string }{
		{"alice", "short pass", "at least 12"},
		{"", pass, "name"},
		{"al ice", pass, "name"},
		{"alice\nbob", pass, "name"},
		{strings.Repeat("a", 65), pass, "name"},
	} {
		if _, err := approval.DeriveKey(tc.name, tc.pass); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DeriveKey(%q, %q) = %v, want an error about %s", tc.name, tc.pass, err, tc.want)
		}
	}

	// The public key round-trips through the policy's form.
	pub := alice.Public().(ed25519.PublicKey)
	s := approval.FormatPublicKey(pub)
	got, err := approval.ParsePublicKey(s)
	if err != nil || !got.Equal(pub) {
		t.Fatalf("ParsePublicKey(%q) = %x, %v", s, got, err)
	}
	for _, bad := range []string{"", "ed25519:", "ed25519:!!!", "rsa:" + s[len("ed25519:"):], "ed25519:AAAA", s + "AA"} {
		if _, err := approval.ParsePublicKey(bad); err == nil {
			t.Errorf("ParsePublicKey(%q) accepted", bad)
		}
	}
}

func TestCheckDecision(t *testing.T) {
	_, alice, _ := ed25519.GenerateKey(nil)
	_, bob, _ := ed25519.GenerateKey(nil)
	keys := map[string]ed25519.PublicKey{"alice": alice.Public().(ed25519.PublicKey), "bob": bob.Public().(ed25519.PublicKey)}
	exp := time.Date(2026, 3, 1, 13, 0, 0, 123e6, time.UTC)
	rec := approval.Record{ID: approval.NewID(), Fingerprint: "sha256:aa", Status: approval.Approved, ExpiresAt: exp, Approver: "alice"}
	signed := func(key ed25519.PrivateKey, r approval.Record, approver string) approval.Record {
		out := rec
		out.Signature = rawSign(key, r, approver)
		return out
	}
	good := signed(alice, rec, "alice")
	if err := approval.CheckDecision(keys, rec.Fingerprint, good); err != nil {
		t.Fatalf("a good signature: %v", err)
	}
	otherID, otherFP, otherExp := rec, rec, rec
	otherID.ID = approval.NewID()
	otherFP.Fingerprint = "sha256:bb"
	otherExp.ExpiresAt = exp.Add(time.Hour)
	longer := good
	longer.ExpiresAt = exp.Add(time.Hour) // the record's expiry pushed back after signing
	asBob := good
	asBob.Approver = "bob" // alice's signature claimed as bob's
	unknown := good
	unknown.Approver = "mallory"
	for _, tc := range []struct {
		name string
		keys map[string]ed25519.PublicKey
		fp   string
		r    approval.Record
	}{
		{"no signature", keys, rec.Fingerprint, rec},
		{"signed for another id", keys, rec.Fingerprint, signed(alice, otherID, "alice")},
		{"signed for another call", keys, rec.Fingerprint, signed(alice, otherFP, "alice")},
		{"the call is another call", keys, "sha256:bb", good},
		{"signed for another expiry", keys, rec.Fingerprint, signed(alice, otherExp, "alice")},
		{"expiry extended after signing", keys, rec.Fingerprint, longer},
		{"signed by bob, recorded as alice", keys, rec.Fingerprint, signed(bob, rec, "alice")},
		{"alice's signature recorded as bob's", keys, rec.Fingerprint, asBob},
		{"approver not in the policy", keys, rec.Fingerprint, unknown},
		{"key removed from the policy", map[string]ed25519.PublicKey{"bob": keys["bob"]}, rec.Fingerprint, good},
		{"no approvers at all", nil, rec.Fingerprint, good},
		{"malformed", keys, rec.Fingerprint, func() approval.Record { r := good; r.Signature = "ed25519:@@"; return r }()},
		{"truncated", keys, rec.Fingerprint, func() approval.Record { r := good; r.Signature = good.Signature[:40]; return r }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := approval.CheckDecision(tc.keys, tc.fp, tc.r); !errors.Is(err, approval.ErrUnverified) {
				t.Fatalf("CheckDecision = %v, want ErrUnverified", err)
			}
		})
	}
}

func TestStatement(t *testing.T) {
	got := string(approval.Statement("apr_x", "sha256:ab", "alice", time.Date(2026, 3, 1, 13, 0, 0, 123456789, time.FixedZone("x", 3600))))
	want := "tollgate-approval-v1\napr_x\nsha256:ab\napprove\nalice\n2026-03-01T12:00:00.123Z"
	if got != want {
		t.Fatalf("Statement = %q, want %q", got, want)
	}
}

// BenchmarkDeriveKey is what one approval (or one passphrase guess) costs.
func BenchmarkDeriveKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := approval.DeriveKey("alice", "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckDecision is what the gate adds to consuming an approval.
func BenchmarkCheckDecision(b *testing.B) {
	_, key, _ := ed25519.GenerateKey(nil)
	keys := map[string]ed25519.PublicKey{"alice": key.Public().(ed25519.PublicKey)}
	r := approval.Record{ID: approval.NewID(), Fingerprint: "sha256:aa", ExpiresAt: time.Now(), Approver: "alice"}
	r.Signature = rawSign(key, r, "alice")
	b.ReportAllocs()
	for b.Loop() {
		if err := approval.CheckDecision(keys, r.Fingerprint, r); err != nil {
			b.Fatal(err)
		}
	}
}

// rawSign signs r's statement as SignDecision did before it checked the
// record: for tests of what a proxy does with any signature.
func rawSign(key ed25519.PrivateKey, r approval.Record, approver string) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(ed25519.Sign(key, approval.Statement(r.ID, r.Fingerprint, approver, r.ExpiresAt)))
}

// TestSignDecisionSignsOnlyTheCallShown: a record whose fingerprint is not
// that of the tool, arguments, rule and revision it shows (the agent wrote
// another call's fingerprint into the store) is not signed.
func TestSignDecisionSignsOnlyTheCallShown(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	call := approval.Call{Tool: "pay", Args: []byte(`{"amount":5}`), Rule: "r", PolicyRev: "rev1"}
	fp, hash, err := approval.Fingerprint(call)
	if err != nil {
		t.Fatal(err)
	}
	r := approval.Record{ID: approval.NewID(), Fingerprint: fp, Tool: "pay", Args: `{"amount":5}`, ArgsHash: hash, Rule: "r", PolicyRev: "rev1",
		ExpiresAt: time.Now().Add(time.Hour)}
	if _, err := approval.SignDecision(key, r, "alice"); err != nil {
		t.Fatalf("an honest record: %v", err)
	}
	for name, alter := range map[string]func(*approval.Record){
		"fingerprint": func(r *approval.Record) { r.Fingerprint = strings.Repeat("0", 64) },
		"arguments":   func(r *approval.Record) { r.Args = `{"amount":500000}` },
		"tool":        func(r *approval.Record) { r.Tool = "pay_anyone" },
		"rule":        func(r *approval.Record) { r.Rule = "other" },
		"revision":    func(r *approval.Record) { r.PolicyRev = "rev2" },
		"unreadable":  func(r *approval.Record) { r.Args = `{"amount":5,"amount":6}` },
	} {
		bad := r
		alter(&bad)
		if sig, err := approval.SignDecision(key, bad, "alice"); err == nil || !errors.Is(err, approval.ErrAltered) {
			t.Errorf("%s altered: signed %q, err %v", name, sig, err)
		}
	}
}

func TestCheckExpiry(t *testing.T) {
	now := time.Now()
	r := approval.Record{ID: "apr_x", ExpiresAt: now.Add(time.Hour)}
	if err := approval.CheckExpiry(r, now, time.Hour); err != nil {
		t.Errorf("an expiry one timeout ahead: %v", err)
	}
	if err := approval.CheckExpiry(r, now.Add(-30*time.Second), time.Hour); err != nil {
		t.Errorf("within the clock slack: %v", err)
	}
	if err := approval.CheckExpiry(r, now, 10*time.Minute); !errors.Is(err, approval.ErrAltered) {
		t.Errorf("an expiry beyond the timeout: %v", err)
	}
}
