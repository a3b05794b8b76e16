package policy

import "testing"

func BenchmarkDecideNoRules(b *testing.B) {
	p := mustLoad(b, "version: \"1\"\ntools:\n  read_file:\n    rules: []\n")
	c := call("read_file", `{"path":"/tmp/x"}`)
	b.ReportAllocs()
	for b.Loop() {
		if p.Decide(c).Action != Allow {
			b.Fatal("not allowed")
		}
	}
}

func BenchmarkDecideThreeConditions(b *testing.B) {
	p := mustLoad(b, `version: "1"
tools:
  create_charge:
    rules:
      - name: checks
        conditions:
          - {path: args.amount, op: lte, value: 50000}
          - {path: args.currency, op: in, value: [usd, eur]}
          - {path: args.description, op: max_len, value: 200}
`)
	c := call("create_charge", `{"amount":1250,"currency":"eur","description":"monthly plan","customer":"cus_123"}`)
	b.ReportAllocs()
	for b.Loop() {
		if p.Decide(c).Action != Allow {
			b.Fatal("not allowed")
		}
	}
}

func BenchmarkDecideRateLimit(b *testing.B) {
	p := mustLoad(b, "version: \"1\"\ntools:\n  t:\n    rules:\n      - {name: r, rate_limit: 5/minute}\n")
	c := call("t", `{}`)
	b.ReportAllocs()
	for b.Loop() {
		p.Decide(c)
	}
}

func BenchmarkHidden(b *testing.B) {
	p := mustLoad(b, `version: "1"
hide: [delete_repository, transfer_repository, list_webhooks, "admin_*"]
`)
	b.ReportAllocs()
	for b.Loop() {
		if p.Hidden("create_issue") || !p.Hidden("list_webhooks") {
			b.Fatal("wrong")
		}
	}
}
